//! `TRAFFIC_SHIFT`: how a Lambda alias moves to the new version. All at once (one UpdateAlias),
//! or step by step as CodeDeploy does it for Lambda
//! (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html#deployment-configuration-lambda):
//! the alias keeps the old version and sends a share to the new one through
//! `RoutingConfig.AdditionalVersionWeights`, waits, and finally points at the new version with no
//! weights.
//!
//! - canary P% T: P% for T, then everything.
//! - linear P% every T: P%, 2P%, … (below 100%), each for T, then everything.
//!
//! Pure: the plan is computed here; the action makes the calls and watches the alarms.

use std::fmt;
use std::time::Duration;

/// CodeDeploy's predefined Lambda configurations (`CodeDeployDefault.Lambda…`).
pub const PREDEFINED: &[(&str, Kind, u8, u64)] = &[
    ("Canary10Percent5Minutes", Kind::Canary, 10, 5 * 60),
    ("Canary10Percent10Minutes", Kind::Canary, 10, 10 * 60),
    ("Canary10Percent15Minutes", Kind::Canary, 10, 15 * 60),
    ("Canary10Percent30Minutes", Kind::Canary, 10, 30 * 60),
    ("Linear10PercentEvery1Minute", Kind::Linear, 10, 60),
    ("Linear10PercentEvery2Minutes", Kind::Linear, 10, 2 * 60),
    ("Linear10PercentEvery3Minutes", Kind::Linear, 10, 3 * 60),
    ("Linear10PercentEvery10Minutes", Kind::Linear, 10, 10 * 60),
];

/// The longest step a custom shift may have: a day, the longest `WAIT_TIMEOUT`.
const STEP_MAX: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Canary,
    Linear,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficShift {
    /// One UpdateAlias, as before `TRAFFIC_SHIFT` existed.
    AllAtOnce,
    Gradual {
        kind: Kind,
        /// 1-99: the canary's share, or each linear increment.
        percent: u8,
        /// How long each share is held before the next step.
        step: Duration,
        /// As the user wrote it, for messages.
        name: String,
    },
}

/// One step of a gradual shift: send `percent` of the traffic to the new version, then hold it
/// for `hold` (watching the alarms) before the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub percent: u8,
    pub hold: Duration,
}

impl TrafficShift {
    /// `AllAtOnce`, a predefined name (case as CodeDeploy spells it, or any case), or
    /// `canary:<P>%:<T>` / `linear:<P>%:<T>` with T in `s`, `m` or `h`.
    pub fn parse(value: &str) -> Result<TrafficShift, String> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("AllAtOnce") {
            return Ok(TrafficShift::AllAtOnce);
        }
        if let Some((name, kind, percent, seconds)) =
            PREDEFINED.iter().find(|(name, ..)| name.eq_ignore_ascii_case(value))
        {
            return Ok(TrafficShift::Gradual {
                kind: *kind,
                percent: *percent,
                step: Duration::from_secs(*seconds),
                name: (*name).to_owned(),
            });
        }
        let parts: Vec<&str> = value.split(':').collect();
        let kind = match parts.first().map(|kind| kind.to_ascii_lowercase()) {
            Some(kind) if kind == "canary" && parts.len() > 1 => Kind::Canary,
            Some(kind) if kind == "linear" && parts.len() > 1 => Kind::Linear,
            _ => return Err(unknown(value)),
        };
        let [_, percent, step] = parts.as_slice() else {
            return Err(format!(
                "{value:?}: a custom shift is canary:<P>%:<T> or linear:<P>%:<T>, e.g. canary:10%:5m or linear:20%:30s"
            ));
        };
        let percent = parse_percent(percent).map_err(|problem| format!("{value:?}: {problem}"))?;
        let step = parse_duration(step).map_err(|problem| format!("{value:?}: {problem}"))?;
        Ok(TrafficShift::Gradual {
            kind,
            percent,
            step,
            name: value.to_owned(),
        })
    }

    /// The shares sent to the new version before it takes everything, each with its hold.
    /// Empty for `AllAtOnce`.
    pub fn steps(&self) -> Vec<Step> {
        match self {
            TrafficShift::AllAtOnce => Vec::new(),
            TrafficShift::Gradual {
                kind: Kind::Canary,
                percent,
                step,
                ..
            } => vec![Step {
                percent: *percent,
                hold: *step,
            }],
            TrafficShift::Gradual {
                kind: Kind::Linear,
                percent,
                step,
                ..
            } => (1..)
                .map(|n| u32::from(*percent) * n)
                .take_while(|share| *share < 100)
                .map(|share| Step {
                    percent: u8::try_from(share).unwrap_or(99),
                    hold: *step,
                })
                .collect(),
        }
    }

    /// How long the shift holds traffic split, in all (the time it adds to the deployment).
    pub fn duration(&self) -> Duration {
        self.steps().iter().map(|step| step.hold).sum()
    }

    pub fn is_gradual(&self) -> bool {
        matches!(self, TrafficShift::Gradual { .. })
    }
}

impl fmt::Display for TrafficShift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrafficShift::AllAtOnce => f.write_str("AllAtOnce"),
            TrafficShift::Gradual {
                kind,
                percent,
                step,
                name,
            } => {
                let how = match kind {
                    Kind::Canary => format!("{percent}% for {}, then all", human_step(*step)),
                    Kind::Linear => format!("{percent}% more every {}", human_step(*step)),
                };
                write!(f, "{name} ({how})")
            }
        }
    }
}

fn unknown(value: &str) -> String {
    let names: Vec<&str> = PREDEFINED.iter().map(|(name, ..)| *name).collect();
    format!(
        "{value:?} is not a traffic shift: use AllAtOnce, one of CodeDeploy's {}, or canary:<P>%:<T> / \
         linear:<P>%:<T> (e.g. canary:10%:5m)",
        names.join(", ")
    )
}

/// `10%` (the `%` may be left out): a whole number from 1 to 99.
fn parse_percent(text: &str) -> Result<u8, String> {
    let digits = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match digits.parse::<u32>() {
        Ok(percent) if (1..=99).contains(&percent) => Ok(u8::try_from(percent).unwrap_or(99)),
        Ok(percent) => Err(format!(
            "the share must be from 1% to 99%, got {percent}% (100% is AllAtOnce)"
        )),
        Err(_) => Err(format!(
            "the share must be a whole percentage such as 10%, got {text:?}"
        )),
    }
}

/// `30s`, `5m`, `1h`: more than zero, at most a day.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "the interval must be a whole number of seconds, minutes or hours such as 30s, 5m or 1h, got {text:?}"
            ));
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("the interval must start with a whole number, got {text:?}"))?;
    let step = Duration::from_secs(number.saturating_mul(seconds));
    if step.is_zero() {
        return Err(format!("the interval must be more than zero, got {text:?}"));
    }
    if step > STEP_MAX {
        return Err(format!("the interval must be at most a day (24h), got {text:?}"));
    }
    Ok(step)
}

/// "5 min", "30 s", "1 h 30 min": exact, unlike `time::human`.
pub fn human_step(step: Duration) -> String {
    let seconds = step.as_secs();
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut parts = Vec::new();
    if hours > 0 {
        parts.push(format!("{hours} h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes} min"));
    }
    if rest > 0 || parts.is_empty() {
        parts.push(format!("{rest} s"));
    }
    parts.join(" ")
}

/// CloudWatch alarm names in `ALARMS`: comma-separated, each 1-255 characters, at most 100
/// (one DescribeAlarms call). Duplicates are dropped.
pub fn parse_alarms(value: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        if name.chars().count() > 255 {
            return Err(format!(
                "alarm names are at most 255 characters: {:?}…",
                name.chars().take(40).collect::<String>()
            ));
        }
        if !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }
    if names.is_empty() {
        return Err("names no alarm: give CloudWatch alarm names separated by commas".to_owned());
    }
    if names.len() > 100 {
        return Err(format!("names {} alarms; at most 100 are watched", names.len()));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percents(shift: &str) -> Vec<u8> {
        TrafficShift::parse(shift)
            .unwrap()
            .steps()
            .iter()
            .map(|step| step.percent)
            .collect()
    }

    #[test]
    fn all_at_once_is_one_move() {
        let shift = TrafficShift::parse("AllAtOnce").unwrap();
        assert_eq!(shift, TrafficShift::AllAtOnce);
        assert!(shift.steps().is_empty() && shift.duration().is_zero());
    }

    #[test]
    fn predefined_names_are_codedeploys() {
        let canary = TrafficShift::parse("Canary10Percent5Minutes").unwrap();
        assert_eq!(
            canary.steps(),
            vec![Step {
                percent: 10,
                hold: Duration::from_secs(300)
            }]
        );
        let linear = TrafficShift::parse("linear10percentevery1minute").unwrap();
        assert_eq!(
            percents("Linear10PercentEvery1Minute"),
            vec![10, 20, 30, 40, 50, 60, 70, 80, 90]
        );
        assert_eq!(linear.duration(), Duration::from_secs(9 * 60));
        assert_eq!(
            TrafficShift::parse("Canary10Percent30Minutes").unwrap().duration(),
            Duration::from_secs(1800)
        );
        for (name, ..) in PREDEFINED {
            assert!(TrafficShift::parse(name).unwrap().is_gradual(), "{name}");
        }
    }

    #[test]
    fn custom_shifts() {
        let canary = TrafficShift::parse("canary:25%:30s").unwrap();
        assert_eq!(
            canary.steps(),
            vec![Step {
                percent: 25,
                hold: Duration::from_secs(30)
            }]
        );
        assert_eq!(percents("linear:30%:5m"), vec![30, 60, 90]);
        assert_eq!(percents("linear:50%:1m"), vec![50]);
        assert_eq!(percents("linear:99%:1s"), vec![99]);
        assert_eq!(percents("linear:1%:1s").len(), 99);
        assert_eq!(
            TrafficShift::parse("linear:30%:5m").unwrap().duration(),
            Duration::from_secs(900)
        );
        assert_eq!(
            TrafficShift::parse("canary:5:2h").unwrap().duration(),
            Duration::from_secs(7200)
        );
        assert_eq!(
            TrafficShift::parse("canary:10%:5m").unwrap().to_string(),
            "canary:10%:5m (10% for 5 min, then all)"
        );
    }

    #[test]
    fn bad_shifts_say_why() {
        for (bad, says) in [
            ("Canary", "not a traffic shift"),
            ("Canary10Percent7Minutes", "not a traffic shift"),
            ("blue-green:10%:5m", "not a traffic shift"),
            ("canary:10%", "canary:<P>%:<T>"),
            ("canary:0%:5m", "from 1% to 99%"),
            ("canary:100%:5m", "from 1% to 99%"),
            ("linear:150%:5m", "from 1% to 99%"),
            ("canary:-5%:5m", "whole percentage"),
            ("canary:2.5%:5m", "whole percentage"),
            ("canary:10%:0m", "more than zero"),
            ("linear:10%:0s", "more than zero"),
            ("canary:10%:5", "30s, 5m or 1h"),
            ("canary:10%:5d", "30s, 5m or 1h"),
            ("canary:10%:m", "whole number"),
            ("canary:10%:25h", "at most a day"),
        ] {
            let problem = TrafficShift::parse(bad).unwrap_err();
            assert!(problem.contains(says), "{bad}: {problem}");
        }
    }

    #[test]
    fn alarm_lists() {
        assert_eq!(
            parse_alarms("errors, latency ,errors,").unwrap(),
            vec!["errors".to_owned(), "latency".to_owned()]
        );
        assert!(parse_alarms(" , ").is_err());
        assert!(parse_alarms(&"a".repeat(256)).is_err());
        let many: Vec<String> = (0..101).map(|n| format!("a{n}")).collect();
        assert!(parse_alarms(&many.join(",")).is_err());
    }

    #[test]
    fn steps_print_exactly() {
        assert_eq!(human_step(Duration::from_secs(300)), "5 min");
        assert_eq!(human_step(Duration::from_secs(30)), "30 s");
        assert_eq!(human_step(Duration::from_secs(5400)), "1 h 30 min");
    }
}
