//! The two small grammars upstream validates with Go libraries: cron schedules as
//! `robfig/cron/v3` parses them with `Minute | Hour | Dom | Month | Dow` (exactly five fields, no
//! `@descriptors`, no seconds), and times of day as Go's `time.Parse("15:04:05")` reads them.

use argo_events_api::cron::CronSchedule;

/// Parses a five-field cron spec as robfig's parser does (the shared parser in
/// `argo_events_api::cron`, which the calendar source and `conditionsReset` run on too); the
/// error is robfig's text.
pub(super) fn parse_cron(spec: &str) -> Result<(), String> {
    CronSchedule::parse(spec).map(|_| ())
}

pub(super) use argo_events_api::duration::parse_clock;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_specs_follow_robfig() {
        // The grammar is tested with the shared parser; here only that validation uses it.
        assert_eq!(parse_cron("5/15 * * * *"), Ok(()));
        assert_eq!(
            parse_cron("@daily"),
            Err("parser does not accept descriptors: @daily".to_owned())
        );
    }
}
