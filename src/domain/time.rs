//! Times and durations as the pipe prints them.

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};

/// RFC 3339 in whole seconds, as AWS prints times.
pub fn format_time(time: SystemTime) -> String {
    format_epoch(DateTime::from(time).secs())
}

pub fn format_epoch(seconds: i64) -> String {
    DateTime::from_secs(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| seconds.to_string())
}

/// "in 12 min" / "3 min ago", for expiries.
pub fn relative(time: SystemTime) -> String {
    match time.duration_since(SystemTime::now()) {
        Ok(ahead) => format!("in {}", human(ahead)),
        Err(past) => format!("{} ago", human(past.duration())),
    }
}

pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 120 {
        format!("{seconds} s")
    } else if seconds < 2 * 3600 {
        format!("{} min", seconds / 60)
    } else {
        format!("{:.1} h", seconds as f64 / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(900)), "15 min");
        assert_eq!(human(Duration::from_secs(3 * 3600)), "3.0 h");
    }

    #[test]
    fn epochs_print_as_aws_prints_them() {
        assert_eq!(format_epoch(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
