//! The bound on password hashing. Each argon2id hash needs ~19 MiB of working
//! memory and a core for tens of milliseconds; unbounded, a burst of logins
//! allocates that on as many blocking threads as there are requests, and the
//! allocator keeps it afterwards. Here at most `concurrency` hashes run at once,
//! each in one of `concurrency` memory buffers the pool owns and reuses; a
//! request that cannot start within the queue timeout is refused as busy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::{Block, Params};
use tokio::sync::Semaphore;

/// Default concurrency ceiling: past it, more parallel hashes only add memory
/// (19 MiB each) without making a login burst finish sooner on a small pod.
pub const MAX_DEFAULT_CONCURRENCY: usize = 8;
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a caller is told when hashing could not start in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// Seconds after which a retry is likely to get a slot.
    pub retry_after: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("password hashing is busy")]
    Busy(Busy),
    /// The hashing thread panicked or was cancelled; the pool stays usable.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

pub struct HashPool {
    permits: Arc<Semaphore>,
    /// Idle buffers; a permit holder takes one and puts it back when done.
    buffers: Arc<Mutex<Vec<Box<[Block]>>>>,
    buffer_blocks: usize,
    queue_timeout: Duration,
}

/// One slot's memory, back in the pool when dropped (also after a panic).
struct Lease {
    buffer: Option<Box<[Block]>>,
    pool: Arc<Mutex<Vec<Box<[Block]>>>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(buffer);
        }
    }
}

/// The CPU count this process may use (cgroup quotas included), at most
/// [`MAX_DEFAULT_CONCURRENCY`].
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MAX_DEFAULT_CONCURRENCY)
}

impl HashPool {
    /// A pool of `concurrency` slots (at least one). Buffers are sized for
    /// argon2's default parameters and allocated on first use, so an idle
    /// server does not hold them.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> HashPool {
        let concurrency = concurrency.max(1);
        HashPool {
            permits: Arc::new(Semaphore::new(concurrency)),
            buffers: Arc::new(Mutex::new(Vec::with_capacity(concurrency))),
            buffer_blocks: Params::DEFAULT.block_count(),
            queue_timeout,
        }
    }

    pub fn with_defaults() -> HashPool {
        HashPool::new(default_concurrency(), DEFAULT_QUEUE_TIMEOUT)
    }

    /// Runs `work` on a blocking thread with a slot's memory, after waiting
    /// (first come, first served) at most the queue timeout for a free slot.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&mut [Block]) -> T + Send + 'static,
    {
        let busy = PoolError::Busy(Busy {
            retry_after: self.queue_timeout.as_secs().max(1),
        });
        let permit = match tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            // Timed out, or the semaphore was closed (never done): busy either way.
            Ok(Err(_)) | Err(_) => return Err(busy),
        };
        let buffer = self.buffers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut lease = Lease {
            buffer,
            pool: Arc::clone(&self.buffers),
        };
        let blocks = self.buffer_blocks;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let buffer = lease
                .buffer
                .get_or_insert_with(|| vec![Block::new(); blocks].into_boxed_slice());
            work(buffer)
        })
        .await
        .map_err(|e| PoolError::Failed(e.to_string()))
    }

    /// Slots not in use right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_refuses_after_the_queue_timeout_and_recovers() {
        let pool = Arc::new(HashPool::new(1, Duration::from_millis(20)));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let holder = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.run(move |_| {
                    let _ = wait.recv();
                })
                .await
            })
        };
        while pool.available() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.run(|blocks| blocks.len()).await;
        assert!(matches!(
            refused,
            Err(PoolError::Busy(Busy { retry_after: 1 }))
        ));
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        let len = pool.run(|blocks| blocks.len()).await.unwrap();
        assert_eq!(len, Params::DEFAULT.block_count());
    }

    #[tokio::test]
    async fn a_panic_in_the_work_frees_the_slot_and_keeps_the_buffer() {
        let pool = HashPool::new(1, Duration::from_millis(200));
        let failed = pool
            .run(|blocks: &mut [Block]| {
                blocks[0] = Block::new();
                panic!("boom")
            })
            .await;
        assert!(matches!(failed, Err(PoolError::Failed(_))));
        assert_eq!(pool.available(), 1);
        assert_eq!(pool.buffers.lock().unwrap().len(), 1);
        assert!(pool.run(|_| 7).await.is_ok());
        assert_eq!(pool.buffers.lock().unwrap().len(), 1, "buffer reused");
    }
}
