import Testing

/// Tests that change the process environment or spawn processes run one at a time,
/// never alongside each other (setenv while another thread spawns is a data race).
@Suite(.serialized) enum ProcessStateTests {}
