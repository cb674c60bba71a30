//! Resident memory and CPU time of gateway processes, read from /proc.

use std::collections::BTreeMap;
use std::process::Command;

use serde::Serialize;

use crate::LoadtestError;

/// One reading of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ProcessSample {
    /// VmRSS in bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: f64,
    /// The system (kernel) part of `cpu_seconds`: where a server's cost sits, in its own code
    /// or in the kernel calls it makes, is the first question when comparing two servers.
    pub system_cpu_seconds: f64,
}

/// Watches a set of gateway pids and keeps each one's last good reading, so a process that
/// was killed mid-run (the failover scenario) still has figures.
#[derive(Clone, Debug)]
pub struct GatewayProbe {
    clock_ticks: f64,
    last: BTreeMap<u32, ProcessSample>,
}

impl GatewayProbe {
    /// A probe for `pids`; fails if one of them cannot be read now.
    pub fn new(pids: &[u32]) -> Result<Self, LoadtestError> {
        let mut probe = Self {
            clock_ticks: clock_ticks(),
            last: BTreeMap::new(),
        };
        for &pid in pids {
            let sample = probe.read(pid)?;
            probe.last.insert(pid, sample);
        }
        Ok(probe)
    }

    /// Read every pid again; pids that are gone keep their previous reading.
    pub fn refresh(&mut self) -> BTreeMap<u32, ProcessSample> {
        let pids: Vec<u32> = self.last.keys().copied().collect();
        for pid in pids {
            if let Ok(sample) = self.read(pid) {
                self.last.insert(pid, sample);
            }
        }
        self.last.clone()
    }

    fn read(&self, pid: u32) -> Result<ProcessSample, LoadtestError> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let bad = |what: &str| LoadtestError::InvalidArgument(format!("pid {pid}: no {what}"));
        let ticks = parse_cpu_ticks(&stat).ok_or_else(|| bad("utime/stime"))?;
        Ok(ProcessSample {
            rss_bytes: parse_rss(&status).ok_or_else(|| bad("VmRSS"))?,
            cpu_seconds: (ticks.user + ticks.system) as f64 / self.clock_ticks,
            system_cpu_seconds: ticks.system as f64 / self.clock_ticks,
        })
    }
}

/// Clock ticks per second of /proc/<pid>/stat times; 100 on every common Linux build.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// VmRSS from /proc/<pid>/status, in bytes.
fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time of a process in clock ticks, as /proc/<pid>/stat gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CpuTicks {
    /// `utime`: in the process's own code.
    user: u64,
    /// `stime`: in the kernel on its behalf.
    system: u64,
}

/// utime and stime from /proc/<pid>/stat. The command name may hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<CpuTicks> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Fields 14 and 15 of the man page; field 3 (state) is the first after the name.
    Some(CpuTicks {
        user: fields.get(11)?.parse().ok()?,
        system: fields.get(12)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_text() {
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t  2048 kB\nThreads: 3\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_rss("Name:\tx\n"), None);
        let stat = "123 (my (odd) gw) S 1 123 123 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0";
        assert_eq!(
            parse_cpu_ticks(stat),
            Some(CpuTicks {
                user: 250,
                system: 50
            })
        );
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let mut probe = GatewayProbe::new(&[me]).expect("own pid is readable");
        let sample = probe.refresh()[&me];
        assert!(sample.rss_bytes > 0);
        assert!(GatewayProbe::new(&[u32::MAX]).is_err());
    }
}
