use super::is_zero;

#[test]
fn any_non_zero_byte_counts() {
    assert!(is_zero(&[]));
    for len in [1, 7, 8, 9, 4096, 4099] {
        let mut b = vec![0u8; len];
        assert!(is_zero(&b), "{len}");
        for at in [0, len / 2, len - 1] {
            b[at] = 1;
            assert!(!is_zero(&b), "{len} at {at}");
            b[at] = 0;
        }
    }
}
