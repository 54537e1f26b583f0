//! A child process owned by a guard: output captured to a file, killed and reaped on drop.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// A running child whose stdout and stderr go to one log file.
///
/// Dropping it kills (SIGKILL) and waits for the process, so no test leaves a zombie or a stray
/// listener behind, also when the test panics.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    /// What the process is, for messages.
    name: String,
    /// The process; `None` once it has been reaped.
    child: Option<std::process::Child>,
    /// Where its output goes.
    log_path: PathBuf,
    /// Exit status, once reaped.
    exit_status: Option<ExitStatus>,
}

impl ChildProcess {
    /// Spawns `command` with stdin closed and output appended to `log_path`.
    pub(crate) fn spawn(name: &str, mut command: Command, log_path: &Path) -> Self {
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log_path.display()));
        let log_for_stderr = log.try_clone().expect("clone log file handle");
        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log_path: log_path.to_owned(),
            exit_status: None,
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(std::process::Child::id)
            .unwrap_or_else(|| panic!("{} has already exited", self.name))
    }

    /// Everything the process wrote so far.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    /// The exit status if the process has exited (reaping it), `None` while it runs.
    pub(crate) fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exit_status {
            return Some(status);
        }
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.exit_status = Some(status);
                self.child = None;
                Some(status)
            }
            Ok(None) => None,
            Err(e) => panic!("waiting for {}: {e}", self.name),
        }
    }

    /// Sends `signal` unless the process has already been reaped.
    pub(crate) fn signal(&self, signal: Signal) {
        let Some(child) = &self.child else { return };
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(Pid::from_raw)
            .expect("child pid is a positive i32");
        // ESRCH (already gone but not yet reaped) is fine: the caller waits next.
        let _ = kill_process(pid, signal);
    }

    /// Polls until the process exits or `timeout` passes; `None` on timeout.
    pub(crate) fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; always reaps.
    pub(crate) fn terminate(&mut self, grace: Duration) -> ExitStatus {
        self.signal(Signal::TERM);
        if let Some(status) = self.wait_timeout(grace) {
            return status;
        }
        self.kill()
    }

    /// SIGKILL and reap.
    pub(crate) fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exit_status {
            return status;
        }
        let mut child = self
            .child
            .take()
            .expect("a child that has not exited is present");
        let _ = child.kill();
        let status = child
            .wait()
            .unwrap_or_else(|e| panic!("reaping {}: {e}", self.name));
        self.exit_status = Some(status);
        status
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill();
        }
    }
}
