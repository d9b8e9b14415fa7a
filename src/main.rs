//! The `tokenring` command.

fn main() {
    println!("tokenring");
}
