//! Which BMP characters are `Simple::Same`: their own NFKC, not default-ignorable, and
//! the start of a chunk. Generated from the unicode-normalization crate by
//! `GUARD_BLESS=1 cargo test -p guard-engine --lib normalize`; do not edit.

/// Per block of 256 code points, its row in `ROWS`.
#[rustfmt::skip]
static INDEX: [u8; 256] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 18, 18, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 32, 33, 18, 18, 34, 35, 18, 36, 18, 37, 38, 39, 40,
    41, 42, 43, 44, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 45, 46, 47, 48, 49, 50, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 44, 44, 44, 44, 44, 44, 44, 44,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    18, 18, 18, 18, 18, 18, 18, 18, 18, 44, 51, 52, 44, 53, 54, 55,
];

/// Bit `c % 256` of a block's row is set when `c` is simple.
#[rustfmt::skip]
static ROWS: [[u64; 4]; 56] = [
    [0xffffffffffffffff, 0xffffffffffffffff, 0x88c35afeffffffff, 0xffffffffffffffff],
    [0x7ff3ffffffffffff, 0x7ffffffffffffdfe, 0xffffffffffffffff, 0xfff1ffffffffe00f],
    [0xffffffffffffffff, 0xffffffffffffffff, 0xfe00ffffffffffff, 0xffffffe0c0ffffff],
    [0x0000000000000000, 0xbbef000000000000, 0xffffffffffffff4f, 0xfdc8ffffff80ffff],
    [0xffffffffffffffff, 0xffffffffffffffff, 0xfffffffffffffc07, 0xffffffffffffffff],
    [0xffffffffffffffff, 0xfffffffffeffffff, 0x400000000001e77f, 0xfffffffffffffc49],
    [0xffffffffe800ffff, 0xfe1efc00000007ff, 0xffffffffffffffff, 0xfc00c260603fffff],
    [0x0000fffffffdffff, 0xfffffffffffff800, 0xffffffffffffffff, 0xdff007fffffffc00],
    [0xffffc110043fffff, 0xfffffffff1ffffff, 0xffffffff007fffff, 0x00000004000003ff],
    [0xefffffffffffffff, 0xffff003f00e1dfff, 0xafffffffffffffff, 0xbfff003f4f7fdfff],
    [0xefb7ffffffffffff, 0xffff003fb1ffdfff, 0xefffffffffffffff, 0xffff003fffffdfff],
    [0xafffffffffffffff, 0xffff003fcf3fdfff, 0xbfffffffffffffff, 0xffff003fff7fdfff],
    [0xefffffffffffffff, 0xffff003fff9fdfff, 0xefffffffffffffff, 0xffff003fff9fdffb],
    [0xa7ffffffffffffff, 0xffff003fff7fdfff, 0xffffffffffffffff, 0xffff003f7fff7bff],
    [0xf8f7ffffffffffff, 0xfffffffffc00f0ff, 0xf8f7ffffffffffff, 0xffffffffcc00f0ff],
    [0xfd5ffc00fcffefff, 0xc001fdffef7bdff7, 0xfdffef7bdff7ff20, 0xffffffffffffffbf],
    [0xf97fbfffffffffff, 0xfffffffffffffc00, 0xfffffffffc00dfff, 0xefffffffffffffff],
    [0xffffffffffffffff, 0xffc000007fffffff, 0x000000ffffffffff, 0xfffffffffffffff8],
    [0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff],
    [0xffffffffffffffff, 0xffffffff1fffffff, 0xffffffffffffffff, 0xffffffffffffffff],
    [0xffefffffffcfffff, 0xffffffffffffffff, 0xffcfffffffffffff, 0xfffffc00dffbffff],
    [0xfffffffffc0007ff, 0xffffffffffffffff, 0xfffffdffffffffff, 0xffffffffffffffff],
    [0xf1ffffffffffffff, 0xffffffffffff003f, 0xffffffffffffffff, 0xfffffffffc00ffff],
    [0xfffffffffe7fffff, 0x601ffffeffffffff, 0x0000fffffc00fc00, 0xfffe000000000000],
    [0xffcfffffffffffff, 0xfff007fffc00ffef, 0xfc00f3ffffffffff, 0xfff3ffbfffffffff],
    [0xff7fffffffffffff, 0xfffffffffc00fc00, 0xffffffffffffffff, 0xfcefde020008ffff],
    [0x08008fffffffffff, 0xfefff80000004000, 0x0000000007ffffff, 0x0000000000000000],
    [0xffffffffffffffff, 0xffffffffffffffff, 0xfffffffff3ffffff, 0xffffffffffffffff],
    [0xffffffffffffffff, 0xd555ffffffffffff, 0x17ffffffffffffff, 0x95ff17f717f715fc],
    [0xaf27038fff7d0000, 0x000c00007f7ffc7f, 0xfffffeff00008000, 0xfffe00000000ffff],
    [0x040442a8c1900110, 0x000000000000fc1e, 0xfffffffffffffdff, 0xffffffffffffffff],
    [0xfffe4fffffffffff, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff],
    [0xfffff9ffffffffff, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff],
    [0xffffffffffffffff, 0x00000000ffffffff, 0x0000000000000000, 0x0000000000000000],
    [0xffffffffffffffff, 0x003fffffffffffff, 0xfffffffffff00000, 0xffffffffffffffff],
    [0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff],
    [0xffffffffffffefff, 0xff8fffffffffffff, 0xffffffffffffffff, 0xffffffffefffffff],
    [0xffffffffffffffff, 0xcfffffffffffffff, 0xffffffffffffffff, 0xfffc7fffffffffff],
    [0xffffffffffffffff, 0x7fff7fffffffffff, 0xffffffffffffffff, 0x00000000ffffffff],
    [0xffffffffffffffff, 0xffffffffffffffff, 0xffffffff7fffffff, 0xfff7ffffffffffff],
    [0x0000000000000000, 0x0000000000000000, 0x0000000000000000, 0xffffffffffc00000],
    [0xf8bf03fffffffffe, 0xffffffffffffffff, 0xffffffff61ffffff, 0x7fffffffffffffff],
    [0x0001ffffffffffff, 0x0000000000000000, 0xffffffff00038000, 0xffffffffffffffff],
    [0x0000000080000000, 0x800000000000ff00, 0x0000000000000000, 0x0000000000000000],
    [0x0000000000000000, 0x0000000000000000, 0x0000000000000000, 0x0000000000000000],
    [0xfffffc00ffffffff, 0xc0087fffffffffff, 0xffffffff0fffffff, 0xfffcffffffffffff],
    [0xffffffffffffffff, 0xfffeffffffffffff, 0xffffffffffffffff, 0xfce1ffffffffffff],
    [0xffffefffffffffbf, 0xffffffffffffffff, 0xffffffffffffffff, 0xfffc0000fc00ffef],
    [0xffffc7fffffffc00, 0xfffffffffff7ffff, 0xfff7ffffffffffff, 0xfc00fffffc00fffe],
    [0xffffffffffffffff, 0xfffffffffc00ffff, 0x3e62ffffffffffff, 0xffbffffffffffffd],
    [0xffffffffffffffff, 0xfffffdff0fffffff, 0xffffffffffffffff, 0xfc00dfffffffffff],
    [0x0000039a801ac000, 0x0000c00000000000, 0x0000000000000000, 0xfffffffffc000000],
    [0xa08000001f07ff80, 0x0000000000000024, 0xfffc000000000000, 0x000000000007ffff],
    [0xc000000000000000, 0x000000000000ffff, 0x0000000000030000, 0xe000ffffffffff00],
    [0x00000000fc000000, 0x0028f08000080060, 0x0000000000000000, 0x6000000000000000],
    [0x0000000000000001, 0x0000000000000000, 0x8000000000000000, 0xfe008080e3030303],
];

pub(super) fn is_same(c: u32) -> bool {
    let row = INDEX.get((c >> 8) as usize).copied().unwrap_or(0);
    ROWS.get(usize::from(row))
        .and_then(|row| row.get(((c >> 6) & 3) as usize))
        .is_some_and(|word| word >> (c & 63) & 1 == 1)
}
