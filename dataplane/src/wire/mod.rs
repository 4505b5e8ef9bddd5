//! Zero-copy, checked header views over byte slices, and checksum helpers.
