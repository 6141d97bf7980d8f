//! A real `trytond` for tests written in other languages (the desktop
//! window tests): starts one on a copy of the template database (see
//! `outpost_e2e::trytond`), prints `port N`, and stops it when stdin closes.

use std::io::{BufRead, Write};

fn main() {
    let t = outpost_e2e::trytond::Trytond::start();
    println!("port {}", t.port);
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    drop(t);
}
