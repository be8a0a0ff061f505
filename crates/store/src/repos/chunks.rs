//! A version's HTML, source and section index, stored as content-addressed chunks of its plan.
//!
//! A push that changes one section of a 60 KB document used to write both texts whole (~120 KB per
//! version, every byte of it through the WAL and its checkpoint). Now each text is cut into chunks
//! at boundaries chosen by its content (a rolling "gear" hash over the last 64 bytes, so an edit
//! moves at most the boundaries around it), each chunk is stored once per plan under a hash of its
//! bytes, and the version row keeps the list of hashes. The next version shares every chunk that
//! did not change: a one-section push writes the one or two chunks around the change.
//!
//! The cut only decides how much is shared; the list of hashes alone says what the text is, so
//! changing the cut later would cost sharing, never correctness. Chunks live per plan (deleting a
//! plan deletes them); [`collect`] drops the chunks that no live version of a plan lists any more,
//! after retention purged old versions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use diesel::prelude::*;
use sha2::Digest;

use crate::DbConnection;
use crate::dialect::{Cached, SMALL_BATCH, on_backend};
use crate::schema::{plans as p, version_chunks as vc, versions as v};

/// No chunk is shorter (but a text's last), so that a list costs at most 1/32 of its text.
const MIN_CHUNK: usize = 1024;
/// No chunk is longer (but by the bytes of one character): a text without boundaries is still cut.
const MAX_CHUNK: usize = 16 * 1024;
/// A boundary where the hash's top 12 bits are zero: chunks of about 4 KB past the minimum.
const BOUNDARY: u64 = 0xFFF << 52;
/// Hex digits of one hash in a list (the first 128 bits of SHA-256).
pub(crate) const HASH_HEX: usize = 32;

/// 256 fixed pseudo-random words (splitmix64), one per byte value.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state: u64 = 0;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// `text` cut at content-defined boundaries, each on a character boundary. Joined, they are `text`.
pub(crate) fn cut(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4096 + 1);
    let mut start = 0;
    while start < bytes.len() {
        let end = next_boundary(&bytes[start..]) + start;
        // Never inside a character: move on to the next one's first byte.
        let end = (end..=bytes.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(bytes.len());
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// The length of the first chunk of `rest`.
fn next_boundary(rest: &[u8]) -> usize {
    if rest.len() <= MIN_CHUNK {
        return rest.len();
    }
    let last = rest.len().min(MAX_CHUNK);
    // The hash depends on the last 64 bytes only: start where the minimum's window begins, and
    // test for a boundary from the minimum on.
    let mut h: u64 = 0;
    for &b in &rest[MIN_CHUNK - 64..MIN_CHUNK] {
        h = roll(h, b);
    }
    // Four bytes a step. One byte at a time, each hash waits for the one before (a shift and an
    // add, ~2 cycles a byte, ~4% of a one-section push's CPU); from `h`, the next four are
    // `h·2ᵏ` plus the sum of their bytes' words, which do not depend on `h`, so the chain from
    // one step to the next is one shift and one add. The same hashes, so the same boundaries.
    let body = &rest[MIN_CHUNK..last];
    let mut steps = body.chunks_exact(4);
    let mut at = MIN_CHUNK;
    for step in &mut steps {
        let [g0, g1, g2, g3] = [0, 1, 2, 3].map(|k| GEAR[usize::from(step[k])]);
        let s1 = (g0 << 1).wrapping_add(g1);
        let s2 = (s1 << 1).wrapping_add(g2);
        let s3 = (s2 << 1).wrapping_add(g3);
        let hashes = [
            (h << 1).wrapping_add(g0),
            (h << 2).wrapping_add(s1),
            (h << 3).wrapping_add(s2),
            (h << 4).wrapping_add(s3),
        ];
        if let Some(k) = hashes.iter().position(|x| x & BOUNDARY == 0) {
            return at + k;
        }
        h = hashes[3];
        at += 4;
    }
    for &b in steps.remainder() {
        h = roll(h, b);
        if h & BOUNDARY == 0 {
            return at;
        }
        at += 1;
    }
    last
}

/// The gear hash after one more byte.
fn roll(h: u64, b: u8) -> u64 {
    (h << 1).wrapping_add(GEAR[usize::from(b)])
}

/// Appends the stored name of `chunk` to `list`: the first 128 bits of its SHA-256, in hex.
fn push_hash(list: &mut String, chunk: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha2::Sha256::digest(chunk.as_bytes());
    for b in &digest[..HASH_HEX / 2] {
        list.push(char::from(HEX[usize::from(b >> 4)]));
        list.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// A text ready to be written: its list (the hashes of its chunks, in order, concatenated) and,
/// for each hash of the list, where its chunk lies in the text (no chunk is copied out: most are
/// held already and never written).
pub(crate) struct Chunked {
    pub(crate) list: String,
    /// The text (a version's source or HTML is the version's own, shared rather than copied).
    text: Arc<str>,
    bounds: Vec<std::ops::Range<usize>>,
}

impl Chunked {
    pub(crate) fn of(text: Arc<str>) -> Self {
        let pieces = cut(&text);
        let mut list = String::with_capacity(pieces.len() * HASH_HEX);
        let mut bounds = Vec::with_capacity(pieces.len());
        let mut at = 0;
        for piece in pieces {
            push_hash(&mut list, piece);
            bounds.push(at..at + piece.len());
            at += piece.len();
        }
        Self { list, text, bounds }
    }

    /// Whether this is `text` (at once when it is the same shared text, else by its bytes).
    pub(crate) fn is(&self, text: &Arc<str>) -> bool {
        Arc::ptr_eq(&self.text, text) || *self.text == **text
    }

    /// Whether this holds `text` itself (not a copy).
    #[cfg(test)]
    pub(crate) fn shares(&self, text: &Arc<str>) -> bool {
        Arc::ptr_eq(&self.text, text)
    }

    /// Each chunk under its hash, in order.
    fn chunks(&self) -> impl Iterator<Item = (&str, &str)> {
        self.bounds.iter().enumerate().map(|(i, r)| {
            (
                &self.list[i * HASH_HEX..(i + 1) * HASH_HEX],
                &self.text[r.clone()],
            )
        })
    }
}

/// Writes the chunks of `texts` that `plan` does not hold yet (inside the caller's transaction).
/// The chunks that version `previous` of the plan lists are held (no version lists a chunk that
/// is gone: see [`collect`]), so its lists (one row) settle most of them; one query asks about
/// the others, and only those not held are inserted (a one-section push: one or two per text).
pub(crate) fn put(
    conn: &mut DbConnection,
    plan: &str,
    previous: Option<i32>,
    texts: &[&Chunked],
) -> QueryResult<()> {
    let mut wanted: Vec<&str> = texts
        .iter()
        .flat_map(|t| t.chunks())
        .map(|(h, _)| h)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut held: HashSet<String> = HashSet::with_capacity(wanted.len());
    if let Some(number) = previous {
        let lists: Option<Lists> = v::table
            .find((plan, number))
            .select((v::html_chunks, v::source_chunks, v::sections_chunks))
            .first(conn)
            .optional()?;
        let listed = listed(&lists);
        wanted.retain(|h| {
            let known = listed.contains(h);
            if known {
                held.insert((*h).to_owned());
            }
            !known
        });
    }
    for batch in wanted.chunks(500) {
        let query = vc::table
            .filter(vc::plan_id.eq(plan).and(vc::hash.eq_any(batch)))
            .select(vc::hash);
        let rows: Vec<String> = if batch.len() <= SMALL_BATCH {
            on_backend!(conn, |c| Cached(query).load(c))?
        } else {
            query.load(conn)?
        };
        held.extend(rows);
    }
    for (h, body) in texts.iter().flat_map(|t| t.chunks()) {
        if held.contains(h) {
            continue;
        }
        // Conflict-free: the plan's row is locked by the caller's write (or the plan is new), so
        // no other transaction writes this plan's chunks meanwhile.
        diesel::insert_into(vc::table)
            .values((vc::plan_id.eq(plan), vc::hash.eq(h), vc::body.eq(body)))
            .execute(conn)?;
        held.insert(h.to_owned());
    }
    Ok(())
}

/// A version row's three lists (`html_chunks`, `source_chunks`, `sections_chunks`).
type Lists = (Option<String>, Option<String>, Option<String>);

/// Every hash the rows' lists name.
fn listed<'a>(rows: impl IntoIterator<Item = &'a Lists>) -> HashSet<&'a str> {
    rows.into_iter()
        .flat_map(|(a, b, c)| [a, b, c])
        .flatten()
        .flat_map(|list| hashes(list).into_iter().flatten())
        .collect()
}

/// The hashes of a stored list, or `None` when it is not one.
fn hashes(list: &str) -> Option<impl Iterator<Item = &str>> {
    (list.len().is_multiple_of(HASH_HEX) && list.is_ascii())
        .then(|| (0..list.len() / HASH_HEX).map(move |i| &list[i * HASH_HEX..(i + 1) * HASH_HEX]))
}

/// The texts behind `lists` (one query for all of them); `Err` names what is missing.
pub(crate) fn assemble(
    conn: &mut DbConnection,
    plan: &str,
    lists: &[&str],
) -> anyhow::Result<Vec<String>> {
    let mut wanted: Vec<&str> = vec![];
    for list in lists {
        wanted.extend(hashes(list).ok_or_else(|| crate::rows::corrupt("chunk list", list))?);
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut bodies: HashMap<String, String> = HashMap::with_capacity(wanted.len());
    for batch in wanted.chunks(500) {
        let rows: Vec<(String, String)> = vc::table
            .filter(vc::plan_id.eq(plan).and(vc::hash.eq_any(batch)))
            .select((vc::hash, vc::body))
            .load(conn)?;
        bodies.extend(rows);
    }
    lists
        .iter()
        .map(|list| {
            let mut text = String::new();
            for h in hashes(list).into_iter().flatten() {
                let body = bodies
                    .get(h)
                    .ok_or_else(|| crate::rows::corrupt("version", format!("chunk {h} missing")))?;
                text.push_str(body);
            }
            Ok(text)
        })
        .collect()
}

/// Deletes the chunks of `plan` that no version of it lists any more (inside the caller's
/// transaction); returns how many. On PostgreSQL the plan's row is locked first, the lock a push
/// to the plan takes before it writes chunks, so a chunk that a concurrent push re-uses is never
/// taken away under it. (SQLite runs one write transaction at a time.)
pub(crate) fn collect(conn: &mut DbConnection, plan: &str) -> QueryResult<usize> {
    if let DbConnection::Pg(c) = conn {
        p::table
            .find(plan)
            .select(p::id)
            .for_update()
            .first::<String>(c)
            .optional()?;
    }
    let lists: Vec<Lists> = v::table
        .filter(v::plan_id.eq(plan))
        .select((v::html_chunks, v::source_chunks, v::sections_chunks))
        .load(conn)?;
    let live = listed(&lists);
    let stored: Vec<String> = vc::table
        .filter(vc::plan_id.eq(plan))
        .select(vc::hash)
        .load(conn)?;
    let dead: Vec<&String> = stored
        .iter()
        .filter(|h| !live.contains(h.as_str()))
        .collect();
    for batch in dead.chunks(500) {
        diesel::delete(
            vc::table.filter(
                vc::plan_id
                    .eq(plan)
                    .and(vc::hash.eq_any(batch.iter().copied())),
            ),
        )
        .execute(conn)?;
    }
    Ok(dead.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> String {
        include_str!("../../../../fixtures/auth-service-redesign.html").repeat(8)
    }

    #[test]
    fn chunks_join_to_the_text_and_respect_their_bounds() {
        for text in [
            String::new(),
            "x".into(),
            "é".repeat(20_000),
            "a".repeat(100_000),
            fixture(),
        ] {
            let pieces = cut(&text);
            assert_eq!(pieces.concat(), text);
            for (i, piece) in pieces.iter().enumerate() {
                assert!(!piece.is_empty());
                assert!(piece.len() <= MAX_CHUNK + 3, "{}", piece.len());
                if i + 1 < pieces.len() {
                    assert!(piece.len() >= MIN_CHUNK, "{}", piece.len());
                }
            }
        }
    }

    fn hash(chunk: &str) -> String {
        let mut out = String::new();
        push_hash(&mut out, chunk);
        out
    }

    /// The boundary as the gear hash defines it, one byte at a time: what the four-byte steps
    /// of `next_boundary` must find.
    fn boundary_byte_by_byte(rest: &[u8]) -> usize {
        if rest.len() <= MIN_CHUNK {
            return rest.len();
        }
        let last = rest.len().min(MAX_CHUNK);
        let mut h = 0;
        for &b in &rest[MIN_CHUNK - 64..MIN_CHUNK] {
            h = super::roll(h, b);
        }
        for (i, &b) in rest[MIN_CHUNK..last].iter().enumerate() {
            h = super::roll(h, b);
            if h & BOUNDARY == 0 {
                return MIN_CHUNK + i;
            }
        }
        last
    }

    #[test]
    fn steps_of_four_bytes_find_the_boundaries_of_one_byte_at_a_time() {
        let doc = fixture();
        let mut seed = 7u64;
        let mut noise = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as u8
        };
        let random: Vec<u8> = (0..64 * 1024).map(|_| noise()).collect();
        let mut found = 0;
        for text in [doc.as_bytes(), &random[..], &[b'a'; 40 * 1024][..]] {
            // Every start and many lengths, so that boundaries fall on each of a step's four
            // bytes and in the remainder.
            for start in (0..text.len().saturating_sub(MIN_CHUNK)).step_by(97) {
                for len in [MIN_CHUNK + 1, MIN_CHUNK + 3, 5000, 9999, MAX_CHUNK + 2] {
                    let rest = &text[start..(start + len).min(text.len())];
                    let want = boundary_byte_by_byte(rest);
                    assert_eq!(super::next_boundary(rest), want, "at {start}, {len} bytes");
                    found += usize::from(want < rest.len().min(MAX_CHUNK));
                }
            }
        }
        assert!(found > 100, "boundaries were found ({found})");
    }

    #[test]
    fn an_edit_changes_only_the_chunks_around_it() {
        let text = fixture();
        let before: Vec<String> = cut(&text).iter().map(|c| hash(c)).collect();
        assert!(before.len() >= 8, "{} chunks", before.len());
        // One paragraph changed in the middle, one section appended at the end.
        let middle = text.len() / 2;
        let at = (middle..)
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(middle);
        let edited = format!(
            "{}<p>changed</p>{}<section data-anchor=\"tail\"><h2>Tail</h2></section>",
            &text[..at],
            &text[at..]
        );
        let after: Vec<String> = cut(&edited).iter().map(|c| hash(c)).collect();
        let old: HashSet<&String> = before.iter().collect();
        let fresh = after.iter().filter(|h| !old.contains(h)).count();
        assert!(fresh <= 4, "{fresh} of {} chunks are new", after.len());
    }

    #[test]
    fn a_list_is_read_back_in_hashes() {
        let text = fixture();
        let chunked = Chunked::of(text.as_str().into());
        let listed: Vec<&str> = hashes(&chunked.list).into_iter().flatten().collect();
        let named: Vec<&str> = chunked.chunks().map(|(h, _)| h).collect();
        assert_eq!(listed, named);
        // The chunks join to the text, each under the hash of its bytes.
        let joined: String = chunked.chunks().map(|(_, c)| c).collect();
        assert_eq!(joined, text);
        assert!(chunked.chunks().all(|(h, c)| hash(c) == h));
        assert!(hashes("abc").is_none());
        assert_eq!(hashes("").into_iter().flatten().count(), 0);
    }
}
