//! tenant-registry's server library. The server itself is not built yet (issue 4).
