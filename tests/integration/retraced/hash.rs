//! The per-event hash, against Retraced's own test vectors.

use std::collections::BTreeMap;

use api::retraced::hash::{Hashed, canonical, hash};

#[test]
fn hash_matches_retraceds_test_vectors() {
    let plain = Hashed {
        id: "kfbr392",
        action: "largeTazoTea.purchase",
        ..Default::default()
    };
    assert_eq!(canonical(&plain), "kfbr392:largeTazoTea.purchase:::::0:0::");
    assert_eq!(
        hash(&plain),
        "a60b49fcbbe8569139b97997eaf8fc0b871d2bb88757ef94eae0056fd9326302"
    );
    let grouped = Hashed {
        group_id: Some("gold-street-id"),
        ..plain.clone()
    };
    assert_eq!(
        hash(&grouped),
        "f17fe3079e5fe34668629f0254a0cabe7ad37ec51d97f034ec8b732e158247d6"
    );

    let fields: BTreeMap<String, String> =
        [("z".into(), "1;2".into()), ("a".into(), "x=y:z".into())].into();
    let metadata: BTreeMap<String, String> = [("m".into(), "v".into())].into();
    let full = Hashed {
        id: "id1",
        action: "a:b",
        target_id: Some("t"),
        actor_id: Some("u%1"),
        group_id: Some("g"),
        source_ip: Some("1.2.3.4"),
        is_failure: true,
        is_anonymous: false,
        fields: Some(&fields),
        external_id: Some("ext"),
        metadata: Some(&metadata),
    };
    assert_eq!(
        canonical(&full),
        "id1:a%3Ab:t:u%251:g:1.2.3.4:1:0:a=x%3Dy%3Az;z=1%3B2;:ext:m=v;"
    );

    // The quirks: empty fields add nothing, empty metadata a bare ':'.
    let empty = BTreeMap::new();
    assert_eq!(
        canonical(&Hashed {
            fields: Some(&empty),
            ..plain.clone()
        }),
        "kfbr392:largeTazoTea.purchase:::::0:0:"
    );
    assert_eq!(
        canonical(&Hashed {
            metadata: Some(&empty),
            ..plain.clone()
        }),
        "kfbr392:largeTazoTea.purchase:::::0:0:::"
    );
    // JavaScript sorts by UTF-16 code units: 'Z' (0x5A) before 'a' (0x61), and an astral
    // character (a surrogate, 0xD83D) before U+FF21.
    let keys: BTreeMap<String, String> = [
        ("a".into(), "1".into()),
        ("Z".into(), "2".into()),
        ("\u{FF21}".into(), "3".into()),
        ("😀".into(), "4".into()),
    ]
    .into();
    assert!(
        canonical(&Hashed {
            fields: Some(&keys),
            ..plain
        })
        .ends_with("Z=2;a=1;😀=4;\u{FF21}=3;")
    );
}
