//! Settings as the binary has them with no flags, without reading the environment: a test or
//! an embedder must not change with a developer's shell (`NHEM_FPS=240` used to reach tests).

use clap::{ArgMatches, Command, FromArgMatches};

/// `command` with every argument's environment variable removed.
pub fn without_env(command: Command) -> Command {
    command.mut_args(|arg| arg.env(None))
}

/// What `parse_from([name])` gives, with the environment ignored.
pub fn flagless<T: FromArgMatches>(command: Command, name: &str) -> T {
    let matches: ArgMatches = without_env(command).get_matches_from([name]);
    T::from_arg_matches(&matches).expect("every setting has a default")
}

#[cfg(test)]
mod tests {
    /// Run by `for_tests_ignore_the_environment` in a child process whose environment sets
    /// every profile's variables; ignored when the suite runs (it only means something there).
    #[test]
    #[ignore = "run by for_tests_ignore_the_environment with a prepared environment"]
    fn child_sees_flagless_defaults() {
        let nhem = crate::nhem::settings::Settings::for_tests(std::env::temp_dir());
        assert_eq!(nhem.fps, 60);
        assert_eq!(nhem.password.expose(), "31415");
        let ecg = crate::ecg::EcgSettings::for_tests();
        assert_eq!(ecg.interval_ms, 160);
        let monitor = crate::monitor::MonitorSettings::for_tests();
        assert_eq!(monitor.cycle_s, 60.0);
        assert_eq!(
            monitor.api_keys,
            vec![protocol::Secret::new("your-api-key")]
        );
    }

    #[test]
    fn for_tests_ignore_the_environment() {
        let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "defaults::tests::child_sees_flagless_defaults"])
            .args(["--ignored", "--quiet", "--test-threads=1"])
            .env("NHEM_FPS", "7")
            .env("NHEM_PASSWORD", "from-the-shell")
            .env("ECG_INTERVAL_MS", "9")
            .env("MONITOR_CYCLE_S", "9")
            .env("MONITOR_API_KEYS", "from-the-shell")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("the test binary runs");
        assert!(
            status.success(),
            "a setting read the developer's environment"
        );
    }
}
