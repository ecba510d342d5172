//! Prints what the shipped sentiment model makes of each argument (polarity, score, intensity,
//! emotions), after normalisation: `cargo run -p lingxi-nlu --release --example sent_probe -- "发票怎么开" "气死我了"`.

fn main() {
    for t in std::env::args().skip(1) {
        let n = lingxi_nlu::normalize::Normalizer::default().normalize(&t);
        let s = lingxi_nlu::sentiment::analyze(&n.text);
        println!("{t}\t{:?}\t{:.2}\t{:.2}\t{:?}", s.polarity, s.score, s.intensity, s.emotions);
    }
}
