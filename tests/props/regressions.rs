//! Shrunk failures found by the properties, each kept as a named test with a one-line
//! postmortem of the bug it found. proptest-regressions/ holds the seeds that replay
//! them inside the properties too.
