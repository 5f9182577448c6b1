//! Option parsing as GNU `getopt_long` does it, so that the policy sees the
//! options a program will see: an unambiguous prefix of a long option is
//! that option, short flags in a cluster are each an option, `-fV`, `-f V`,
//! `--file=V` and `--file V` are the same, and `--` ends the options.

use super::{Arg, Opt};

/// An option the policy adds to a profile (`allowOptions`), or the profile's own.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OptRef<'a> {
    Profile(&'a Opt),
    /// Widened by the policy: `(spelling, takes a value)`.
    Extra(&'a str, bool),
}

/// One parsed command-line element.
#[derive(Clone, Debug)]
pub(crate) enum Event<'a> {
    Opt {
        opt: OptRef<'a>,
        /// Index in `args` where the option was written.
        at: usize,
        value: Option<&'a str>,
        /// The second value of a two-value option (`jq --arg NAME VALUE`).
        value2: Option<&'a str>,
    },
    /// `-NUM` for programs that take it (`head -5`, `grep -3`).
    Number,
    Operand {
        at: usize,
    },
}

/// Why a command line cannot be parsed as the program would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    Unknown(String),
    Ambiguous(String, Vec<String>),
    MissingValue(String),
    UnexpectedValue(String),
}

/// How a program reads its options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    /// Options may follow operands (GNU's default); otherwise the first
    /// operand ends them (wrappers, `awk`).
    pub permute: bool,
    /// `-NUM` is an option.
    pub numeric: bool,
}

pub(crate) const PERMUTE: Style = Style {
    permute: true,
    numeric: false,
};
pub(crate) const IN_ORDER: Style = Style {
    permute: false,
    numeric: false,
};

/// Options widened by a policy, as `(spelling, takes a value)`: `--name`,
/// `-x`, or with a trailing `=` for an option that takes a value.
pub(crate) type Extras = [(String, bool)];

fn long_matches<'a>(
    options: &'a [Opt],
    extras: &'a Extras,
    name: &str,
) -> Result<Option<OptRef<'a>>, ParseError> {
    // An exact spelling wins over any prefix.
    for o in options {
        if o.long.contains(&name) {
            return Ok(Some(OptRef::Profile(o)));
        }
    }
    for (spelling, value) in extras {
        if spelling.strip_prefix("--") == Some(name) {
            return Ok(Some(OptRef::Extra(spelling, *value)));
        }
    }
    let mut found: Vec<(&Opt, &str)> = Vec::new();
    for o in options {
        if let Some(l) = o.long.iter().find(|l| l.starts_with(name))
            && !found.iter().any(|(f, _)| std::ptr::eq(*f, o))
        {
            found.push((o, l));
        }
    }
    let extra: Vec<&(String, bool)> = extras
        .iter()
        .filter(|(s, _)| s.strip_prefix("--").is_some_and(|l| l.starts_with(name)))
        .collect();
    match (found.len(), extra.len()) {
        (0, 0) => Ok(None),
        (1, 0) => Ok(Some(OptRef::Profile(found[0].0))),
        (0, 1) => Ok(Some(OptRef::Extra(&extra[0].0, extra[0].1))),
        _ => Err(ParseError::Ambiguous(
            format!("--{name}"),
            found
                .iter()
                .map(|(_, l)| format!("--{l}"))
                .chain(extra.iter().map(|(s, _)| s.clone()))
                .collect(),
        )),
    }
}

fn short_match<'a>(options: &'a [Opt], extras: &'a Extras, c: char) -> Option<OptRef<'a>> {
    if let Some(o) = options.iter().find(|o| o.short == c) {
        return Some(OptRef::Profile(o));
    }
    extras.iter().find_map(|(s, v)| {
        let mut chars = s.strip_prefix('-')?.chars();
        match (chars.next(), chars.next()) {
            (Some(l), None) if l == c && l != '-' => Some(OptRef::Extra(s, *v)),
            _ => None,
        }
    })
}

fn arg_of(opt: OptRef<'_>) -> Arg {
    match opt {
        OptRef::Profile(o) => o.arg,
        OptRef::Extra(_, true) => Arg::Required,
        OptRef::Extra(_, false) => Arg::None,
    }
}

/// Parses `args` (without the program name) against a profile's options.
pub(crate) fn parse<'a>(
    options: &'a [Opt],
    extras: &'a Extras,
    style: Style,
    args: &'a [String],
) -> Result<Vec<Event<'a>>, ParseError> {
    let mut events = Vec::with_capacity(args.len());
    let mut i = 0;
    let mut options_done = false;
    while i < args.len() {
        let arg = args[i].as_str();
        let at = i;
        i += 1;
        if options_done || arg == "-" || !arg.starts_with('-') {
            events.push(Event::Operand { at });
            if !style.permute {
                options_done = true;
            }
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let opt = long_matches(options, extras, name)?
                .ok_or_else(|| ParseError::Unknown(format!("--{name}")))?;
            let (value, value2) = match (arg_of(opt), attached) {
                (Arg::None, Some(_)) => {
                    return Err(ParseError::UnexpectedValue(format!("--{name}")));
                }
                (Arg::None, None) | (Arg::Optional, None) => (None, None),
                (Arg::Optional | Arg::Required, Some(v)) => (Some(v), None),
                (Arg::Required, None) => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| ParseError::MissingValue(format!("--{name}")))?;
                    i += 1;
                    (Some(v.as_str()), None)
                }
                (Arg::Two, _) => {
                    let (Some(a), Some(b)) = (args.get(i), args.get(i + 1)) else {
                        return Err(ParseError::MissingValue(format!("--{name}")));
                    };
                    i += 2;
                    (Some(a.as_str()), Some(b.as_str()))
                }
            };
            events.push(Event::Opt {
                opt,
                at,
                value,
                value2,
            });
            continue;
        }
        let cluster = &arg[1..];
        if style.numeric && cluster.bytes().all(|b| b.is_ascii_digit()) {
            events.push(Event::Number);
            continue;
        }
        for (pos, c) in cluster.char_indices() {
            let opt = short_match(options, extras, c)
                .ok_or_else(|| ParseError::Unknown(format!("-{c}")))?;
            let rest = &cluster[pos + c.len_utf8()..];
            match arg_of(opt) {
                Arg::None => {
                    events.push(Event::Opt {
                        opt,
                        at,
                        value: None,
                        value2: None,
                    });
                    continue;
                }
                Arg::Optional => events.push(Event::Opt {
                    opt,
                    at,
                    value: (!rest.is_empty()).then_some(rest),
                    value2: None,
                }),
                Arg::Required if !rest.is_empty() => events.push(Event::Opt {
                    opt,
                    at,
                    value: Some(rest),
                    value2: None,
                }),
                Arg::Required => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| ParseError::MissingValue(format!("-{c}")))?;
                    i += 1;
                    events.push(Event::Opt {
                        opt,
                        at,
                        value: Some(v),
                        value2: None,
                    });
                }
                Arg::Two => {
                    let (Some(a), Some(b)) = (args.get(i), args.get(i + 1)) else {
                        return Err(ParseError::MissingValue(format!("-{c}")));
                    };
                    i += 2;
                    events.push(Event::Opt {
                        opt,
                        at,
                        value: Some(a),
                        value2: Some(b),
                    });
                }
            }
            break;
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::super::{flag, reads, value};
    use super::*;

    const OPTIONS: &[Opt] = &[
        flag('n', &["line-number"]),
        reads('f', &["file"]),
        flag('\0', &["files-with-matches"]),
        value('m', &["max-count"]),
        Opt::new('i', &["in-place"], Arg::Optional, super::super::Kind::Plain),
    ];

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    /// `(option index in OPTIONS, value)` of every option, then the operands.
    type Summary = (Vec<(usize, Option<String>)>, Vec<String>);

    fn summary(line: &str) -> Result<Summary, ParseError> {
        let args = words(line);
        let events = parse(OPTIONS, &[], PERMUTE, &args)?;
        let mut opts = Vec::new();
        let mut operands = Vec::new();
        for e in events {
            match e {
                Event::Opt {
                    opt: OptRef::Profile(o),
                    value,
                    ..
                } => {
                    let k = OPTIONS
                        .iter()
                        .position(|x| std::ptr::eq(x, o))
                        .unwrap_or(99);
                    opts.push((k, value.map(str::to_owned)));
                }
                Event::Operand { at } => operands.push(args[at].clone()),
                _ => {}
            }
        }
        Ok((opts, operands))
    }

    #[test]
    fn spellings_of_one_option_parse_alike() {
        let want = Ok((vec![(0, None), (1, Some("V".into()))], vec!["x".into()]));
        for line in [
            "-n --file=V x",
            "-n --file V x",
            "-n -f V x",
            "-n -fV x",
            "-nf V x",
            "-nfV x",
            "x -nfV",
            "--line-n -fV x",
        ] {
            assert_eq!(summary(line), want, "{line}");
        }
    }

    #[test]
    fn exact_wins_and_ambiguous_prefixes_are_errors() {
        // `--file` is exact although `--files-with-matches` also starts with it.
        assert_eq!(
            summary("--file V").map(|s| s.0),
            Ok(vec![(1, Some("V".into()))])
        );
        assert!(matches!(summary("--fil V"), Err(ParseError::Ambiguous(..))));
        assert_eq!(summary("--files V").map(|s| s.0), Ok(vec![(2, None)]));
        assert!(matches!(summary("--bogus"), Err(ParseError::Unknown(_))));
        assert!(matches!(summary("-z"), Err(ParseError::Unknown(_))));
        assert!(matches!(
            summary("--line-number=3"),
            Err(ParseError::UnexpectedValue(_))
        ));
        assert!(matches!(summary("-f"), Err(ParseError::MissingValue(_))));
    }

    #[test]
    fn optional_values_attach_and_dashes_end_options() {
        assert_eq!(summary("-i x").map(|s| s.0), Ok(vec![(4, None)]));
        assert_eq!(
            summary("-i.bak x").map(|s| s.0),
            Ok(vec![(4, Some(".bak".into()))])
        );
        assert_eq!(
            summary("--in-pl=.bak x").map(|s| s.0),
            Ok(vec![(4, Some(".bak".into()))])
        );
        assert_eq!(
            summary("-n -- -f x"),
            Ok((vec![(0, None)], vec!["-f".into(), "x".into()]))
        );
        assert_eq!(summary("- -n").map(|s| s.1), Ok(vec!["-".into()]));
    }
}
