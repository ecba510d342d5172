use super::fit::train_head;
use super::*;
use crate::classifier::Rng;

#[test]
fn evaluates_a_small_oos_task_without_touching_test_for_tuning() {
    let mut train = Vec::new();
    for (i, w) in ["apple", "banana", "cherry"].iter().enumerate() {
        for j in 0..8 {
            train.push(Example::new(format!("i like {w} number {j}"), format!("l{i}")));
        }
    }
    train.push(Example::new("zzz qqq", "oos"));
    let dev = vec![
        Example::new("apple please", "l0"),
        Example::new("banana now", "l1"),
        Example::new("cherry pie", "l2"),
        Example::new("xylophone kettle", "oos"),
    ];
    let test =
        vec![Example::new("an apple", "l0"), Example::new("some banana", "l1"), Example::new("fresh cherry", "l2")];
    let splits = Splits { train, dev, test, background: Vec::new() };
    let task = TaskKind::IntentWithOos { oos_label: "oos".into() };
    let r = evaluate(&splits, &task, &EvalConfig::default()).unwrap();
    assert_eq!(r.n_test, 3);
    assert!(r.in_scope_accuracy.is_some());
    assert!(r.accuracy >= 66.0, "{r:?}");
}

#[test]
fn the_dense_view_is_a_grid_axis_chosen_on_dev() {
    // The embedding says nothing about the class (the same direction for every example);
    // the extra view (say an earlier layer's mean) points along the class's axis.
    let example = |k: usize, j: usize, split: &str| {
        let jitter = 0.01 * (j % 5) as f32;
        let mut extra = vec![0.1, jitter, jitter, jitter];
        extra[1 + k] = 1.0;
        Example::new(format!("{split} item"), format!("l{k}"))
            .with_dense(vec![1.0, jitter, 0.5 - jitter, 0.2])
            .with_extra(vec![extra])
    };
    let split = |n: usize, name: &str| -> Vec<Example> { (0..n).map(|j| example(j % 3, j, name)).collect() };
    let splits =
        Splits { train: split(30, "train"), dev: split(9, "dev"), test: split(9, "test"), background: Vec::new() };
    let mut config = EvalConfig::default();
    let e = DenseView::embedding();
    let with_x = DenseView { name: "e+x".into(), blocks: vec![0, 1], average: false };
    let missing = DenseView { name: "e+y".into(), blocks: vec![0, 2], average: false };
    config.dense_views = vec![e.clone(), missing, with_x];
    let r = evaluate(&splits, &TaskKind::Intent, &config).unwrap();
    assert_eq!(r.dense_view, "e+x", "{:?}", r.grid);
    assert_eq!(r.accuracy, 100.0);
    assert!(r.grid.iter().any(|(p, _)| p.starts_with("view e ")), "every view is on the grid");
    assert!(!r.grid.iter().any(|(p, _)| p.starts_with("view e+y ")), "a view the examples lack is skipped");
    config.dense_views = vec![e];
    let r = evaluate(&splits, &TaskKind::Intent, &config).unwrap();
    assert_eq!(r.dense_view, "e");
    assert!(r.accuracy < 100.0, "the embedding alone cannot tell the classes apart: {}", r.accuracy);
}

/// Four classes whose texts say nothing; the embedding (`e`) tells l1, l2 and {l3, l4} apart,
/// the extra view (`x`) {l1, l2}, l3 and l4: each view carries half of the signal.
fn half_signal_examples(rng: &mut Rng, n: usize) -> Vec<Example> {
    let mut u = || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
    (0..n)
        .map(|j| {
            let k = j % 4;
            let mut a: Vec<f32> = (0..4).map(|_| 0.2 * u()).collect();
            let mut b: Vec<f32> = (0..4).map(|_| 0.2 * u()).collect();
            a[k.min(2)] += 1.0;
            b[k.max(1) - 1] += 1.0;
            Example::new("an item", format!("l{}", k + 1)).with_dense(a).with_extra(vec![b])
        })
        .collect()
}

/// The report with its timings zeroed (they differ between two runs of the same evaluation).
fn untimed(r: EvalReport) -> EvalReport {
    EvalReport { train_secs: 0.0, latency_p50_us: 0.0, latency_p99_us: 0.0, ..r }
}

#[test]
fn the_ensemble_over_views_is_chosen_on_dev_when_the_views_know_different_things() {
    let mut rng = Rng::new(11);
    let mut split = |n: usize| half_signal_examples(&mut rng, n);
    let splits = Splits { train: split(120), dev: split(80), test: split(80), background: Vec::new() };
    let (e, x) = (DenseView::embedding(), DenseView { name: "x".into(), blocks: vec![1], average: false });
    // Linear models only: a view's first best point could otherwise be one mixed with the
    // neighbour vote and the (here blind) text-only member, flat enough to be outvoted.
    let config = EvalConfig {
        c_grid: vec![1.0],
        dense_weights: vec![3.0],
        dense_views: vec![e.clone(), x.clone()],
        lexical_weights: vec![0.0],
        neighbour_norms: Vec::new(),
        ..EvalConfig::default()
    };
    assert!(!config.view_ensemble, "off by default");
    let off = evaluate(&splits, &TaskKind::Intent, &config).unwrap();
    assert_eq!(off.view_ensemble, None);
    assert!(!off.grid.iter().any(|(p, _)| p.starts_with("view ensemble")));
    for view in [e, x] {
        let single = EvalConfig { dense_views: vec![view], view_ensemble: true, ..config.clone() };
        let r = evaluate(&splits, &TaskKind::Intent, &single).unwrap();
        assert_eq!(r.view_ensemble, None, "one view is no ensemble");
        assert!(r.accuracy < 85.0, "a view alone confuses two classes: {}", r.accuracy);
    }
    let on = EvalConfig { view_ensemble: true, ..config };
    let r = evaluate(&splits, &TaskKind::Intent, &on).unwrap();
    assert_eq!(r.view_ensemble, Some(vec!["e".to_string(), "x".to_string()]), "{:?}", r.grid);
    assert!(r.tune_score > off.tune_score, "{} vs {}", r.tune_score, off.tune_score);
    assert!(r.accuracy > 95.0 && r.accuracy > off.accuracy + 10.0, "{} vs {}", r.accuracy, off.accuracy);
    assert!(r.quantized_accuracy > 95.0, "{}", r.quantized_accuracy);
    // Without a dev split the members are retrained on all of train.
    let holdout = Splits { dev: Vec::new(), ..splits };
    let r = evaluate(&holdout, &TaskKind::Intent, &on).unwrap();
    assert!(r.view_ensemble.is_some() && r.accuracy > 95.0, "{r:?}");
}

#[test]
fn an_ensemble_over_views_that_does_not_beat_the_best_view_changes_nothing() {
    // `e+x` alone is perfect on dev: the ensemble with the useless `e` cannot beat it.
    let mut rng = Rng::new(3);
    let mut split = |n: usize| half_signal_examples(&mut rng, n);
    let splits = Splits { train: split(60), dev: split(40), test: split(40), background: Vec::new() };
    let both = DenseView { name: "e+x".into(), blocks: vec![0, 1], average: false };
    let config = EvalConfig {
        c_grid: vec![1.0],
        dense_weights: vec![3.0],
        dense_views: vec![DenseView::embedding(), both],
        ..EvalConfig::default()
    };
    let off = evaluate(&splits, &TaskKind::Intent, &config).unwrap();
    let on = evaluate(&splits, &TaskKind::Intent, &EvalConfig { view_ensemble: true, ..config }).unwrap();
    assert_eq!(on.view_ensemble, None, "{:?}", on.grid);
    let (candidate, rest): (Vec<_>, Vec<_>) =
        on.grid.iter().cloned().partition(|(p, _)| p.starts_with("view ensemble"));
    assert_eq!(candidate.len(), 1, "the candidate is on the grid");
    assert!(candidate[0].1 <= off.tune_score);
    assert_eq!(untimed(EvalReport { grid: rest, ..on }), untimed(off));
}

/// Examples whose class is the XOR of the signs of the embedding's first two coordinates
/// (`text` says nothing), with a small noise coordinate when `noise`, and a constant one.
fn xor_examples(rng: &mut Rng, n: usize, text: &str, noise: bool) -> Vec<Example> {
    let mut u = || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
    (0..n)
        .map(|_| {
            let (a, b) = (u(), u());
            let label = if a * b > 0.0 { "same" } else { "differ" };
            let mut dense = vec![a, b];
            if noise {
                dense.push(0.1 * u());
            }
            dense.push(1.0);
            Example::new(text, label).with_dense(dense)
        })
        .collect()
}

#[test]
fn the_trained_head_is_a_grid_axis_chosen_on_dev() {
    // The class is the XOR of the signs of the embedding's first two coordinates and the
    // texts say nothing: no linear model over text and embedding can tell the classes
    // apart, a hidden layer can.
    let mut rng = Rng::new(5);
    let mut split = |n: usize| xor_examples(&mut rng, n, "an item", true);
    let splits = Splits { train: split(400), dev: split(150), test: split(150), background: Vec::new() };
    let mut config = EvalConfig { c_grid: vec![1.0], dense_weights: vec![3.0], ..EvalConfig::default() };
    let plain = evaluate(&splits, &TaskKind::Intent, &config).unwrap();
    assert!(plain.accuracy < 80.0, "a linear model cannot learn XOR: {}", plain.accuracy);
    assert_eq!((plain.head_weight, plain.head_epochs), (0.0, 0));
    config.head = Some(MlpConfig { hidden: 32, learning_rate: 0.01, max_epochs: 60, ..MlpConfig::default() });
    let r = evaluate(&splits, &TaskKind::Intent, &config).unwrap();
    assert!(r.head_weight > 0.0, "{:?}", r.grid);
    assert!(r.head_epochs > 0);
    assert!(r.accuracy > 90.0, "{}", r.accuracy);
    // Without a dev split the final head is retrained on all of train for the probe's epochs.
    let holdout = Splits { dev: Vec::new(), ..splits };
    let r = evaluate(&holdout, &TaskKind::Intent, &config).unwrap();
    assert!(r.head_weight > 0.0 && r.accuracy > 90.0, "{r:?}");
}

#[test]
fn the_head_stops_on_a_slice_of_train_not_on_the_tuning_set() {
    let mut rng = Rng::new(9);
    let mut split = |n: usize| xor_examples(&mut rng, n, "x", false);
    let (train, tune) = (split(200), split(60));
    let flipped: Vec<Example> = tune
        .iter()
        .map(|e| Example { label: if e.label == "same" { "differ" } else { "same" }.into(), ..e.clone() })
        .collect();
    let cfg = MlpConfig { hidden: 8, max_epochs: 20, patience: 2, ..MlpConfig::default() };
    let a = train_head(&train, &tune, &cfg, 0.1, 7).unwrap();
    assert_eq!(a, train_head(&train, &flipped, &cfg, 0.1, 7).unwrap(), "the tuning labels are not seen");
    let on_tune = train_head(&train, &tune, &cfg, 0.0, 7).unwrap();
    assert_ne!(on_tune, train_head(&train, &flipped, &cfg, 0.0, 7).unwrap(), "fraction 0 stops on the tuning set");
}

#[test]
fn holdout_is_stratified_and_deterministic() {
    let ex: Vec<Example> =
        (0..100).map(|i| Example::new(format!("t{i}"), if i % 4 == 0 { "a" } else { "b" })).collect();
    let (k1, h1) = stratified_holdout(&ex, 0.2, 7);
    let (k2, h2) = stratified_holdout(&ex, 0.2, 7);
    assert_eq!((k1.len(), h1.len()), (80, 20));
    assert_eq!(h1.iter().filter(|e| e.label == "a").count(), 5);
    assert_eq!((k1, h1), (k2, h2));
}

#[test]
fn nb_scaling_is_tried_on_two_class_tasks_only() {
    let words = [("good", "1"), ("bad", "0")];
    let ex = |n: usize, k: usize| -> Vec<Example> {
        (0..n).map(|j| Example::new(format!("{} thing {}", words[j % 2].0, j + k), words[j % 2].1)).collect()
    };
    let splits = Splits { train: ex(20, 0), dev: ex(6, 100), test: ex(4, 200), background: Vec::new() };
    let r = evaluate(&splits, &TaskKind::Sentiment, &EvalConfig::default()).unwrap();
    assert!(r.grid.iter().any(|(p, _)| p.contains("nb 1 ")), "{:?}", r.grid);
    assert_eq!(r.grid.len(), 9, "3 C × 3 powers");
    let mut three = splits.clone();
    three.train.push(Example::new("meh thing", "2"));
    let r = evaluate(&three, &TaskKind::Sentiment, &EvalConfig::default()).unwrap();
    assert!(r.grid.iter().all(|(p, _)| p.contains("nb 0 ")), "{:?}", r.grid);
}

#[test]
fn oos_task_with_embeddings_chooses_the_neighbour_confidence_on_dev() {
    // Each class owns an axis of a 4-d "embedding"; out-of-scope texts sit between axes,
    // where the linear model can still be sure but no training example is near.
    let axis = |k: usize, jitter: f32| -> Vec<f32> {
        let mut v = vec![0.05 * jitter; 4];
        v[k] = 1.0;
        v
    };
    let mut train = Vec::new();
    for k in 0..3 {
        for j in 0..8 {
            train.push(Example::new(format!("w{k} item {j}"), format!("l{k}")).with_dense(axis(k, j as f32 / 8.0)));
        }
    }
    train.push(Example::new("zzz", "oos").with_dense(axis(3, 0.0)));
    let between = |i: usize| vec![0.7, 0.7, 0.1 * i as f32, 0.0];
    let mut dev: Vec<Example> =
        (0..3).map(|k| Example::new(format!("w{k} thing"), format!("l{k}")).with_dense(axis(k, 0.3))).collect();
    dev.extend((0..3).map(|i| Example::new("w0 w1 other", "oos").with_dense(between(i))));
    let test = vec![Example::new("w2 stuff", "l2").with_dense(axis(2, 0.5))];
    let splits = Splits { train, dev, test, background: Vec::new() };
    let task = TaskKind::IntentWithOos { oos_label: "oos".into() };
    let r = evaluate(&splits, &task, &EvalConfig::default()).unwrap();
    assert!(r.embeddings);
    assert!(r.oos_threshold.is_some());
    assert_eq!(r.accuracy, 100.0, "{r:?}");
    assert!(EvalConfig::default().oos_betas.iter().any(|b| *b > 0.0));
    // Fused tasks try the text-only member too.
    assert!(r.grid.iter().any(|(p, _)| p.contains("lexical")), "{:?}", r.grid);
    assert!(EvalConfig::default().lexical_weights.iter().any(|g| *g > 0.0));
}

/// Reviews of one shop whose train split never uses the words its test uses; another shop's
/// reviews (the background) do.
fn shop_with_background() -> Splits {
    let ex = |t: &str, l: &str| Example::new(t, l);
    let mut train = Vec::new();
    for i in 0..6 {
        train.push(ex(&format!("好吃 第{i}单"), "1"));
        train.push(ex(&format!("难吃 第{i}单"), "0"));
    }
    let dev = vec![ex("新鲜 好吃", "1"), ex("变质 难吃", "0"), ex("新鲜", "1"), ex("变质", "0")];
    let test = vec![ex("很新鲜", "1"), ex("有点变质", "0"), ex("新鲜美味", "1"), ex("全变质了", "0")];
    let mut background = Vec::new();
    for _ in 0..10 {
        background.extend([ex("水果新鲜", "1"), ex("水果变质", "0")]);
    }
    background.push(ex("很新鲜", "1"));
    Splits { train, dev, test, background }
}

#[test]
fn background_data_is_a_grid_choice_and_never_holds_a_test_text() {
    let splits = shop_with_background();
    let config = EvalConfig { tune_folds: 2, ..EvalConfig::for_task(&TaskKind::Sentiment) };
    let own = Splits { background: Vec::new(), ..splits.clone() };
    let alone = evaluate(&own, &TaskKind::Sentiment, &config).unwrap();
    assert!(!alone.adapted && alone.grid.iter().all(|(p, _)| !p.contains("adapted")));
    assert!(alone.accuracy <= 50.0, "the shop's own reviews cannot tell 新鲜 from 变质: {}", alone.accuracy);

    let (splits, dropped) = splits.with_background(shop_with_background().background);
    assert_eq!(dropped, 1, "the copy of the test review 很新鲜 is left out");
    assert!(splits.background.iter().all(|e| e.text != "很新鲜"));
    let r = evaluate(&splits, &TaskKind::Sentiment, &config).unwrap();
    assert_eq!(r.n_background, 20);
    assert!(r.adapted, "dev chose the background: {:?}", r.grid);
    assert_eq!(r.grid.iter().filter(|(p, _)| p.contains("adapted")).count() * 2, r.grid.len());
    assert_eq!(r.accuracy, 100.0);
}

#[test]
fn a_fused_model_reaches_the_background_through_its_text_only_member() {
    // Embeddings that know nothing of polarity: only the other shop's reviews can tell
    // 新鲜 from 变质, and they carry no embeddings, so only the text-only member sees them.
    let mut rng = Rng::new(7);
    let mut embedded = |mut ex: Vec<Example>| {
        for e in ex.iter_mut() {
            e.dense = Some((0..8).map(|_| rng.below(1000) as f32 / 1000.0 - 0.5).collect());
        }
        ex
    };
    let shop = shop_with_background();
    let own = Splits {
        train: embedded(shop.train),
        dev: embedded(shop.dev),
        test: embedded(shop.test),
        background: Vec::new(),
    };
    let (splits, _) = own.clone().with_background(shop_with_background().background);
    let config = EvalConfig { lexical_weights: vec![0.0, 1.0], ..EvalConfig::for_task(&TaskKind::Sentiment) };

    let alone = evaluate(&own, &TaskKind::Sentiment, &config).unwrap();
    assert!(alone.embeddings);
    assert!(alone.lexical_member.as_deref().is_some_and(|m| m.ends_with("own")), "{:?}", alone.lexical_member);
    assert!(alone.accuracy <= 75.0, "without the background: {}", alone.accuracy);

    let r = evaluate(&splits, &TaskKind::Sentiment, &config).unwrap();
    assert!(r.embeddings && !r.adapted, "the fused linear model itself trains on the shop alone");
    assert!(r.lexical_member.as_deref().is_some_and(|m| m.ends_with("adapted")), "{:?}", r.lexical_member);
    assert_eq!(r.lexical_weight, 1.0, "{:?}", r.grid);
    assert_eq!(r.accuracy, 100.0);
    assert!(r.grid.iter().all(|(p, _)| !p.contains("adapted")), "no background embeddings, no adapted linear model");

    // With embeddings on the background too, the fused linear model may train with it as well:
    // half the grid's points are adapted ones.
    let (mut splits, _) = own.with_background(shop_with_background().background);
    splits.background = embedded(splits.background);
    let r = evaluate(&splits, &TaskKind::Sentiment, &config).unwrap();
    assert_eq!(r.grid.iter().filter(|(p, _)| p.ends_with("adapted")).count() * 2, r.grid.len(), "{:?}", r.grid);
    assert_eq!(r.accuracy, 100.0);
}
