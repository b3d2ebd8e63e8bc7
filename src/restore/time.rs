//! Parsing restore targets: RFC 3339 timestamps (`2026-11-26T12:00:00Z`,
//! `2026-11-26T12:00:00.250+01:00`) or `latest`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTarget {
    Latest,
    /// Milliseconds since the Unix epoch (UTC).
    At(u64),
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl std::str::FromStr for RestoreTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("latest") {
            return Ok(RestoreTarget::Latest);
        }
        let bad =
            || format!("{s:?} is neither `latest` nor an RFC 3339 time like 2026-11-26T12:00:00Z");
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| {
            s.get(r).and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad)
        };
        let (y, mo, d, h, mi, sec) = (
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
        );
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return Err(bad());
        }
        let mut rest = &s[19..];
        let mut ms = 0i64;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let f = &frac[..digits];
            ms = format!("{:0<3}", &f[..f.len().min(3)])
                .parse()
                .map_err(|_| bad())?;
            rest = &frac[digits..];
        }
        let offset_min = match rest {
            "Z" | "z" => 0,
            o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let oh: i64 = o[1..3].parse().map_err(|_| bad())?;
                let om: i64 = o[4..6].parse().map_err(|_| bad())?;
                sign * (oh * 60 + om)
            }
            _ => return Err(bad()),
        };
        let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
        u64::try_from(secs * 1000 + ms)
            .map(RestoreTarget::At)
            .map_err(|_| bad())
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC (civil-from-days, Howard Hinnant).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_150_000_123), "2025-11-26T09:40:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for ms in [0, 951_782_400_000, 1_764_150_000_123, 4_102_444_800_999] {
            assert_eq!(rfc3339(ms).parse(), Ok(RestoreTarget::At(ms)));
        }
    }

    #[test]
    fn parses_rfc3339_and_latest() {
        assert_eq!("latest".parse(), Ok(RestoreTarget::Latest));
        assert_eq!("1970-01-01T00:00:00Z".parse(), Ok(RestoreTarget::At(0)));
        assert_eq!(
            "2025-11-26T09:40:00.123Z".parse(),
            Ok(RestoreTarget::At(1_764_150_000_123))
        );
        assert_eq!(
            "2025-11-26T10:40:00.123+01:00".parse(),
            Ok(RestoreTarget::At(1_764_150_000_123))
        );
        assert_eq!(
            "2000-02-29T00:00:00.5Z".parse(),
            Ok(RestoreTarget::At(951_782_400_500))
        );
        for bad in [
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-11-26 09:40",
            "2025-11-26T09:40:00",
            "2025-11-26T09:40:00.Z",
        ] {
            assert!(bad.parse::<RestoreTarget>().is_err(), "{bad}");
        }
    }
}
