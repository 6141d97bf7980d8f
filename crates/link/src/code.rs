//! Pairing codes, and the proofs of a code that a slave and its master
//! trade so that each knows the other saw the same code.
//!
//! A code is 8 symbols of Crockford's base32 alphabet
//! (`0123456789ABCDEFGHJKMNPQRSTVWXYZ`: 32 symbols, exactly 5 bits each,
//! 40 bits a code). Each symbol is the low 5 bits of one random byte, so
//! every symbol is equally likely. People may type `O` for `0`, `I` or `L`
//! for `1` and `U` for `V`: the look-alikes the alphabet leaves out.
//!
//! Both proofs come from one key, derived from the code and salted with
//! the master's fingerprint; each proof is then bound to this slave and
//! this master:
//!
//! ```text
//! K            = PBKDF2-HMAC-SHA256(code, "outpost-pairing-v2:" + master_fp, 50_000 rounds, 32 bytes)
//! slave proof  = hex(HMAC-SHA256(K, "outpost-slave-proof-v2:" + slave_fp + ":" + master_fp))   (hello.proof)
//! master proof = hex(HMAC-SHA256(K, "outpost-master-proof-v2:" + slave_fp + ":" + master_fp))  (offer.proof)
//! ```
//!
//! The master keeps only `K` ([`PairingKey`]), never the code: it derives
//! `K` once when it makes a code and stores it, and checks every slave's
//! proof, and makes its own, with `K` alone. A slave derives `K` from the
//! code it was given. The two labels keep the proofs apart: a listener who
//! saw the slave's proof learns nothing of the master's, so a PC that
//! announces the office's name but does not know the code (or its key)
//! cannot make the master proof, and a slave pairing by code refuses its
//! offer.

use std::fmt;

use hmac::Mac;
use subtle::ConstantTimeEq;

/// Symbols of a pairing code: Crockford's base32 (no I, L, O, U).
pub const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a code (5 bits each: 40 bits), shown as two groups of four.
pub const CODE_LEN: usize = 8;
/// PBKDF2 rounds of the code derivation: a slave makes one per pairing and
/// the master one per code, while someone who sniffed a proof off the LAN
/// (or read the key from the office database) would need about 2^40 of
/// them to find the code, far beyond the code's ten minutes.
pub const PROOF_ROUNDS: u32 = 50_000;

const KEY_LABEL: &str = "outpost-pairing-v2";
const SLAVE_LABEL: &str = "outpost-slave-proof-v2";
const MASTER_LABEL: &str = "outpost-master-proof-v2";

/// A fresh random pairing code (stored without separators).
pub fn new_code() -> String {
    let mut bytes = [0u8; CODE_LEN];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| symbol(*b)).collect()
}

/// The symbol for one random byte: its low 5 bits, so each of the 32
/// symbols takes exactly 8 of the 256 byte values (no modulo bias).
fn symbol(byte: u8) -> char {
    CODE_ALPHABET[usize::from(byte & 0x1f)] as char
}

/// Upper case, separators and spaces removed, look-alikes read as the
/// symbol they look like (`O`→`0`, `I`/`L`→`1`, `U`→`V`), so `abcd-efgh`,
/// `ABCDEFGH` and `abcd efgh` are the same code.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            'U' => 'V',
            other => other,
        })
        .collect()
}

/// `ABCD-EFGH`: how people read a code.
pub fn display_code(code: &str) -> String {
    let c = normalize_code(code);
    if c.len() == CODE_LEN {
        format!("{}-{}", &c[..4], &c[4..])
    } else {
        c
    }
}

/// The key derived from a pairing code for one master (see the module
/// doc): what the master stores instead of the code. Its `Debug` shows
/// nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingKey([u8; 32]);

impl fmt::Debug for PairingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingKey(..)")
    }
}

impl PairingKey {
    /// Derives the key of `code` for the master at `master_fp` (a
    /// deliberately slow hash: run it off the async runtime).
    pub fn derive(code: &str, master_fp: &str) -> PairingKey {
        let salt = format!("{KEY_LABEL}:{}", master_fp.to_ascii_lowercase());
        let mut k = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            normalize_code(code).as_bytes(),
            salt.as_bytes(),
            PROOF_ROUNDS,
            &mut k,
        );
        PairingKey(k)
    }

    /// The key as 64 hex digits, for storing.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// A stored key; `None` when `s` is not 64 hex digits.
    pub fn from_hex(s: &str) -> Option<PairingKey> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(PairingKey(k))
    }

    fn proof(&self, label: &str, slave_fp: &str, master_fp: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(format!("{label}:{slave_fp}:{master_fp}").as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// Both proofs of one code, for one slave and one master (see the module
/// doc). Its `Debug` shows no key material.
pub struct CodeKeys {
    key: PairingKey,
    slave_proof: String,
    slave_fp: String,
    master_fp: String,
}

impl fmt::Debug for CodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeKeys")
            .field("slave_fp", &self.slave_fp)
            .field("master_fp", &self.master_fp)
            .finish_non_exhaustive()
    }
}

impl CodeKeys {
    /// The slave's side: derives the key of `code` and both proofs (a
    /// deliberately slow hash: run it off the async runtime).
    pub fn derive(code: &str, slave_fp: &str, master_fp: &str) -> CodeKeys {
        CodeKeys::from_key(PairingKey::derive(code, master_fp), slave_fp, master_fp)
    }

    /// The master's side: both proofs from the stored key (two HMACs).
    pub fn from_key(key: PairingKey, slave_fp: &str, master_fp: &str) -> CodeKeys {
        let (slave_fp, master_fp) = (
            slave_fp.to_ascii_lowercase(),
            master_fp.to_ascii_lowercase(),
        );
        CodeKeys {
            slave_proof: key.proof(SLAVE_LABEL, &slave_fp, &master_fp),
            key,
            slave_fp,
            master_fp,
        }
    }

    /// What the slave sends in `hello` instead of the code.
    pub fn slave_proof(&self) -> &str {
        &self.slave_proof
    }

    /// What the master sends with its offer: it knows the code too.
    pub fn master_proof(&self) -> String {
        self.key
            .proof(MASTER_LABEL, &self.slave_fp, &self.master_fp)
    }

    /// Whether `given` is the slave's proof (compared in constant time).
    pub fn is_slave_proof(&self, given: &str) -> bool {
        constant_time_eq(&self.slave_proof, given)
    }

    /// Whether these keys were made for the master at `fingerprint`.
    pub fn is_for_master(&self, fingerprint: &str) -> bool {
        self.master_fp.eq_ignore_ascii_case(fingerprint)
    }

    /// Whether `given` is the master's proof (compared in constant time).
    pub fn is_master_proof(&self, given: &str) -> bool {
        constant_time_eq(&self.master_proof(), given)
    }
}

/// The slave's proof of `code` (see [`CodeKeys`]).
pub fn code_proof(code: &str, slave_fp: &str, master_fp: &str) -> String {
    CodeKeys::derive(code, slave_fp, master_fp).slave_proof
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two codes in constant time (after normalising).
pub fn codes_match(given: &str, expected: &str) -> bool {
    constant_time_eq(&normalize_code(given), &normalize_code(expected))
}

/// Equality whose time does not tell how much of a secret matched
/// (`subtle`, which the optimiser cannot turn into an early exit). The
/// lengths are not secret: proofs and codes have fixed lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same vector is pinned in the browser's pairing
    /// (`ui/src/lib/rtc/rtc.test.ts`): both make the same proofs (checked
    /// once more with Python's `hashlib.pbkdf2_hmac` and `hmac`).
    #[test]
    fn the_code_proofs_match_the_browser() {
        assert_eq!(normalize_code("k0lo-1ixz"), "K01011XZ");
        let (s, m) = ("a".repeat(64), "0123456789abcdef".repeat(4));
        let keys = CodeKeys::derive("k0lo-1ixz", &s, &m);
        assert_eq!(
            PairingKey::derive("k0lo-1ixz", &m).to_hex(),
            "e52bc4e44f2ec3ed68d7b3896b739e03c20f97cd8ba8df804ec8518f04c64f96"
        );
        assert_eq!(
            keys.slave_proof(),
            "df54f2d379bcc42b8a2fdb95bffc291595ee9c420fa620cba1a294adc8a0b2ad"
        );
        assert_eq!(
            keys.master_proof(),
            "df28f5e021b6822e3f13880a002a3e933de08696d6cc2f46e6f5606dab2f4798"
        );
    }

    #[test]
    fn the_master_proves_and_checks_with_the_key_alone() {
        let (s, m) = ("aa".repeat(32), "bb".repeat(32));
        let slave = CodeKeys::derive("ABCD-2345", &s, &m);
        let stored = PairingKey::derive("abcd2345", &m).to_hex();
        assert!(!stored.contains("ABCD2345") && !stored.to_uppercase().contains("ABCD2345"));
        let key = PairingKey::from_hex(&stored).expect("a stored key reads back");
        let master = CodeKeys::from_key(key.clone(), &s, &m);
        assert!(master.is_slave_proof(slave.slave_proof()));
        assert!(slave.is_master_proof(&master.master_proof()));
        // The key is the master's: another master's salt gives another key.
        assert_ne!(key, PairingKey::derive("abcd2345", &"cc".repeat(32)));
        // Fingerprints in either case are the same devices.
        let upper = CodeKeys::from_key(key.clone(), &s.to_uppercase(), &m.to_uppercase());
        assert!(upper.is_slave_proof(slave.slave_proof()));
        // What is not a key is refused.
        for bad in [
            "",
            "abc",
            &"zz".repeat(32),
            &"a".repeat(63),
            &"é".repeat(32),
        ] {
            assert!(PairingKey::from_hex(bad).is_none(), "{bad}");
        }
        assert_eq!(format!("{key:?}"), "PairingKey(..)");
    }

    #[test]
    fn every_symbol_of_the_alphabet_is_equally_likely() {
        // 32 distinct symbols, none of the look-alikes.
        let mut seen: Vec<u8> = CODE_ALPHABET.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 32);
        assert!(!CODE_ALPHABET.iter().any(|c| b"ILOU".contains(c)));
        // Each symbol is made by exactly 8 of the 256 byte values.
        let mut counts = std::collections::HashMap::new();
        for b in 0..=255u8 {
            *counts.entry(symbol(b)).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 32);
        assert!(counts.values().all(|n| *n == 8), "{counts:?}");
        // And the codes made use them all, about evenly.
        let mut drawn = std::collections::HashMap::new();
        for _ in 0..2000 {
            for c in new_code().chars() {
                *drawn.entry(c).or_insert(0u32) += 1;
            }
        }
        assert_eq!(drawn.len(), 32, "{drawn:?}");
        // 16,000 symbols: 500 expected each; 350 is more than 6 sigma off.
        assert!(drawn.values().all(|n| (350..650).contains(n)), "{drawn:?}");
    }

    #[test]
    fn look_alikes_read_as_the_symbol_they_look_like() {
        assert_eq!(normalize_code("o0-il1-u"), "00111V");
        for c in CODE_ALPHABET {
            let s = (*c as char).to_string();
            assert_eq!(normalize_code(&s.to_lowercase()), s);
        }
    }

    #[test]
    fn codes_are_typeable_and_compare_loosely_but_exactly() {
        let c = new_code();
        assert_eq!(c.len(), CODE_LEN);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert!(codes_match(&display_code(&c).to_lowercase(), &c));
        assert!(codes_match(" abcd-2345 ", "ABCD2345"));
        assert!(codes_match("ABCD-O1L5", "ABCD0115"));
        assert!(!codes_match("ABCD2346", "ABCD2345"));
        assert!(!codes_match("ABCD234", "ABCD2345"));
        assert_ne!(new_code(), new_code());
    }

    #[test]
    fn the_constant_time_compare_is_exact() {
        assert!(constant_time_eq("", ""));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(!constant_time_eq("ab", "abc"));
        assert!(!constant_time_eq("abc", "ABC"));
    }

    #[test]
    fn code_proofs_are_bound_to_the_code_and_both_devices() {
        let (s, m) = ("aa".repeat(32), "bb".repeat(32));
        let p = code_proof("abcd-2345", &s, &m);
        assert_eq!(p.len(), 64);
        assert_eq!(
            p,
            code_proof("ABCD2345", &s, &m),
            "spelling does not matter"
        );
        assert!(!p.contains("ABCD"));
        assert_ne!(p, code_proof("ABCD2346", &s, &m));
        assert_ne!(p, code_proof("ABCD2345", &m, &s));
        assert_ne!(p, code_proof("ABCD2345", &s, &"cc".repeat(32)));
    }

    #[test]
    fn a_master_without_the_code_cannot_prove_it() {
        let (s, m) = ("aa".repeat(32), "bb".repeat(32));
        let slave = CodeKeys::derive("ABCD-2345", &s, &m);
        let master = CodeKeys::derive("abcd2345", &s, &m);
        assert!(slave.is_master_proof(&master.master_proof()));
        assert!(master.is_slave_proof(slave.slave_proof()));
        // A rogue with another code, or one that echoes the slave's proof.
        let rogue = CodeKeys::derive("ABCD-2346", &s, &m);
        assert!(!slave.is_master_proof(&rogue.master_proof()));
        assert!(!slave.is_master_proof(slave.slave_proof()));
        assert!(!slave.is_master_proof(""));
        assert_ne!(slave.master_proof(), slave.slave_proof());
        // The proof of one master is no proof for another.
        let other = CodeKeys::derive("ABCD-2345", &s, &"cc".repeat(32));
        assert!(!slave.is_master_proof(&other.master_proof()));
        // Nothing secret in Debug.
        let shown = format!("{slave:?}");
        assert!(!shown.contains(slave.slave_proof()), "{shown}");
    }
}
