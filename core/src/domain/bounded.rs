//! Sequences decoded from untrusted bytes with a cap on their length, checked before anything is
//! allocated: a few bytes on the wire can otherwise ask for millions of elements.

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Deserializes a `Vec` of at most `N` elements (use with `#[serde(deserialize_with)]`).
pub fn vec<'de, D, T, const N: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T, const N: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Bounded<T, N> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a sequence of at most {N} elements")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let hint = seq.size_hint().unwrap_or(0);
            if hint > N {
                return Err(A::Error::invalid_length(hint, &self));
            }
            let mut out = Vec::with_capacity(hint.min(1024));
            while let Some(element) = seq.next_element()? {
                if out.len() == N {
                    return Err(A::Error::invalid_length(N + 1, &self));
                }
                out.push(element);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Bounded::<T, N>(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Capped {
        #[serde(deserialize_with = "super::vec::<_, _, 3>")]
        items: Vec<u8>,
    }

    #[test]
    fn a_sequence_longer_than_its_cap_is_refused_before_it_is_read() {
        assert_eq!(
            postcard::from_bytes::<Capped>(&[3, 1, 2, 3]).unwrap().items,
            [1, 2, 3]
        );
        // Claims four billion elements in five bytes: refused at once.
        assert!(postcard::from_bytes::<Capped>(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(postcard::from_bytes::<Capped>(&[4, 1, 2, 3, 4]).is_err());
    }
}
