//! GitHub REST payloads we read and write.
