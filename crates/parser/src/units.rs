//! nginx's measurement units (`src/core/ngx_parse.c` of 1.22.1): sizes, offsets and
//! times, with the same acceptance rules, so that a value nginx rejects is rejected here.

/// `ngx_atoi`-style: a non-empty run of ASCII digits that fits in `i64`.
fn atoi(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(v)
}

/// `ngx_atoi`: a plain decimal number (`ngx_conf_set_num_slot`).
pub fn parse_number(s: &str) -> Option<i64> {
    atoi(s.as_bytes())
}

fn scaled(s: &str, units: &[(u8, i64)]) -> Option<i64> {
    let b = s.as_bytes();
    let last = *b.last()?;
    let (digits, scale) = match units.iter().find(|(u, _)| last.eq_ignore_ascii_case(u)) {
        Some(&(_, scale)) => (&b[..b.len() - 1], scale),
        None => (b, 1),
    };
    let v = atoi(digits)?;
    if v > i64::MAX / scale {
        return None;
    }
    Some(v * scale)
}

/// `ngx_parse_size`: digits with an optional `k`/`K` or `m`/`M` suffix.
pub fn parse_size(s: &str) -> Option<i64> {
    scaled(s, &[(b'k', 1024), (b'm', 1024 * 1024)])
}

/// `ngx_parse_offset`: like [`parse_size`], plus `g`/`G`.
pub fn parse_offset(s: &str) -> Option<i64> {
    scaled(
        s,
        &[
            (b'k', 1024),
            (b'm', 1024 * 1024),
            (b'g', 1024 * 1024 * 1024),
        ],
    )
}

/// `ngx_parse_time`: `1h 30m`, `10s`, `500ms`... Returns seconds when `is_sec`, else
/// milliseconds. Units must go from most to least significant; a bare number is
/// seconds; `ms` is refused where seconds are wanted; `y` and `M` where milliseconds are.
pub fn parse_time(s: &str, is_sec: bool) -> Option<i64> {
    #[derive(PartialEq, PartialOrd, Clone, Copy)]
    enum Step {
        Start,
        Year,
        Month,
        Week,
        Day,
        Hour,
        Min,
        Sec,
        Msec,
        Last,
    }
    let b = s.as_bytes();
    let mut p = 0;
    let mut valid = false;
    let mut value: i64 = 0;
    let mut total: i64 = 0;
    let mut step = if is_sec { Step::Start } else { Step::Month };
    const DAY: i64 = 60 * 60 * 24;

    while p < b.len() {
        let c = b[p];
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            p += 1;
            valid = true;
            continue;
        }
        p += 1;
        let (next, scale) = match c {
            b'y' if step <= Step::Start => (Step::Year, DAY * 365),
            b'M' if step < Step::Month => (Step::Month, DAY * 30),
            b'w' if step < Step::Week => (Step::Week, DAY * 7),
            b'd' if step < Step::Day => (Step::Day, DAY),
            b'h' if step < Step::Hour => (Step::Hour, 60 * 60),
            b'm' if b.get(p) == Some(&b's') => {
                if is_sec || step >= Step::Msec {
                    return None;
                }
                p += 1;
                (Step::Msec, 1)
            }
            b'm' if step < Step::Min => (Step::Min, 60),
            b's' if step < Step::Sec => (Step::Sec, 1),
            b' ' if step < Step::Sec => (Step::Last, 1),
            _ => return None,
        };
        step = next;
        let mut scale = scale;
        let mut max = i64::MAX / scale;
        if step != Step::Msec && !is_sec {
            scale *= 1000;
            max /= 1000;
        }
        if value > max {
            return None;
        }
        value *= scale;
        total = total.checked_add(value)?;
        value = 0;
        while b.get(p) == Some(&b' ') {
            p += 1;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        value = value.checked_mul(1000)?;
    }
    total.checked_add(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1g"), None);
        assert_eq!(parse_offset("1g"), Some(1 << 30));
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("60s", true), Some(60));
        assert_eq!(parse_time("60", false), Some(60_000));
        assert_eq!(parse_time("500ms", false), Some(500));
        assert_eq!(parse_time("500ms", true), None);
        assert_eq!(parse_time("1h 30m", true), Some(5400));
        assert_eq!(parse_time("1h30m", false), Some(5_400_000));
        assert_eq!(parse_time("30m 1h", true), None);
        assert_eq!(parse_time("1y", true), Some(31_536_000));
        assert_eq!(parse_time("1y", false), None);
        assert_eq!(parse_time("1d", false), Some(86_400_000));
        assert_eq!(parse_time("abc", true), None);
        assert_eq!(parse_time("", true), None);
        assert_eq!(parse_time("3600s", false), Some(3_600_000));
    }
}
