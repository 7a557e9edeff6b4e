//! A vector for the history's long lists (millions of sends, reads and polls): it grows a chunk
//! of 65 536 entries at a time instead of doubling, so it holds at most one chunk more than it
//! uses and never copies what it holds. A doubling `Vec` leaves up to half its capacity unused
//! and needs old and new buffers at once while it grows, which is most of the checkers' memory
//! in a long run.

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A growable list in fixed-size chunks.
#[derive(Clone, Debug)]
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// An empty list.
    pub fn new() -> Chunked<T> {
        Chunked::default()
    }

    /// Appends `value`.
    pub fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks
            .last_mut()
            .expect("a chunk with room")
            .push(value);
        self.len += 1;
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks
            .get(index >> CHUNK_BITS)
            .and_then(|chunk| chunk.get(index & (CHUNK - 1)))
    }

    /// The entry at `index`, mutably, if there is one.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks
            .get_mut(index >> CHUNK_BITS)
            .and_then(|chunk| chunk.get_mut(index & (CHUNK - 1)))
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// The entries from `start` (up to `len`), in order.
    pub fn range(&self, start: usize, len: usize) -> impl Iterator<Item = &T> + '_ {
        let first = start >> CHUNK_BITS;
        let head = self.chunks.get(first).map_or(&[][..], |chunk| {
            chunk.get(start & (CHUNK - 1)..).unwrap_or(&[])
        });
        let rest = self.chunks.get(first + 1..).unwrap_or(&[]).iter().flatten();
        head.iter().chain(rest).take(len)
    }

    /// Heap bytes of its chunks, at their capacity.
    pub fn heap_bytes(&self) -> usize {
        let chunks: usize = self.chunks.iter().map(Vec::capacity).sum();
        chunks * size_of::<T>() + self.chunks.capacity() * size_of::<Vec<T>>()
    }
}

impl<T: Clone> Chunked<T> {
    /// Grows the list to at least `len` entries, filling with `fill`.
    pub fn grow_to(&mut self, len: usize, fill: T) {
        while self.len < len {
            self.push(fill.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_entries_across_chunks_in_order() {
        let mut list = Chunked::new();
        for i in 0..(3 * CHUNK + 5) {
            list.push(i);
        }
        assert_eq!(list.len(), 3 * CHUNK + 5);
        assert_eq!(list.get(CHUNK), Some(&CHUNK));
        assert_eq!(list.get(3 * CHUNK + 4), Some(&(3 * CHUNK + 4)));
        assert_eq!(list.get(3 * CHUNK + 5), None);
        assert!(list.iter().copied().eq(0..3 * CHUNK + 5));
        let from: Vec<usize> = list.range(CHUNK - 2, 4).copied().collect();
        assert_eq!(from, [CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1]);
        *list.get_mut(7).unwrap() = 70;
        assert_eq!(list.get(7), Some(&70));
        assert_eq!(
            list.chunks.len(),
            4,
            "one chunk per 65 536 entries, no more"
        );
    }

    #[test]
    fn grows_with_a_fill() {
        let mut list = Chunked::new();
        list.grow_to(3, 'x');
        list.grow_to(2, 'y');
        assert!(list.iter().copied().eq("xxx".chars()));
    }
}
