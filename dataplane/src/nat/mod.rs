//! Compiled NAT rules, the session-miss path, translations, hairpin, ICMP errors, fragments.

pub mod rules;
