//! Reading a process's memory from Linux's `/proc`, shared by the benches that report RSS.

/// A `kB` field of `/proc/<pid>/status` (`pid` a number, or `self`), e.g. `VmRSS:`;
/// 0 when it cannot be read.
pub fn status_kb(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
