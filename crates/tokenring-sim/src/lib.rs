//! tokenring-sim
