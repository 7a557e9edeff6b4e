//! The `kafkasim` binary: a thin shell over [`kafkasim::cli`].

fn main() {
    std::process::exit(kafkasim::cli::main());
}
