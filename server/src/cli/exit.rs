//! Exit codes of the administrative subcommands: 0 done, 1 failed, 2 refused
//! (wrong input or a state that makes the operation unsafe).

use std::process::ExitCode;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

/// A refusal (exit 2): the input or the situation is not one this command accepts.
pub fn refuse(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        error: anyhow::anyhow!("{message}"),
    }
}

/// Runs a subcommand on a fresh runtime, printing its error on stderr.
///
/// A plain `anyhow::Error` exits 1; a [`Failure`] keeps its own code.
pub fn run<E: Into<Failure>>(fut: impl std::future::Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let failure = failure.into();
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
