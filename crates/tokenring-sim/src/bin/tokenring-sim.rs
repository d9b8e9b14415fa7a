//! `tokenring-sim`: create, provision and serve a simulated authenticator.

fn main() {
    eprintln!("tokenring-sim: not ready yet");
    std::process::exit(2);
}
