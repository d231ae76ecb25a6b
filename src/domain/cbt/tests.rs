use super::*;

const G: u64 = GRANULARITY;

#[test]
fn ones_and_trim_cover_exactly_the_disk() {
    assert_eq!(ones(0), Vec::<u8>::new());
    assert_eq!(ones(1), vec![0x80]);
    assert_eq!(ones(8 * G), vec![0xff]);
    assert_eq!(ones(9 * G + 1), vec![0xff, 0xc0]);
    let mut b = vec![0xff, 0xff, 0xff];
    trim(&mut b, 3 * G);
    assert_eq!(b, vec![0xe0]);
    let mut b = vec![0x01];
    trim(&mut b, 16 * G);
    assert_eq!(b, vec![0x01, 0x00]);
}

#[test]
fn pad_to_four_bytes() {
    assert_eq!(pad(vec![]), Vec::<u8>::new());
    assert_eq!(pad(vec![1]), vec![1, 0, 0, 0]);
    assert_eq!(pad(vec![1, 2, 3, 4]), vec![1, 2, 3, 4]);
    assert_eq!(pad(vec![1; 5]).len(), 8);
}

#[test]
fn windows_realign_to_bit_zero() {
    let bits = [0b0000_0001, 0b1000_0000];
    assert_eq!(window(&bits, 7, 2), vec![0b1100_0000]);
    assert_eq!(window(&bits, 8, 1), vec![0b1000_0000]);
    assert_eq!(window(&bits, 0, 7), vec![0]);
    // Past the end of the bitmap: clean.
    assert_eq!(window(&bits, 100, 9), vec![0, 0]);
}

#[test]
fn extents_merge_neighbours_and_stop_at_the_size() {
    let bits = [0b1100_0001, 0b1000_0000];
    assert_eq!(extents(&bits, 16 * G), vec![(0, 2 * G), (7 * G, 2 * G)]);
    assert_eq!(extents(&bits, 8 * G + 5), vec![(0, 2 * G), (7 * G, G + 5)]);
    assert_eq!(extents(&[], G), vec![]);
}
