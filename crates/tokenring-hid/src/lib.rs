//! tokenring-hid
