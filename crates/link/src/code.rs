//! Pairing codes, and the proofs of a code that a slave and its master
//! trade so that each knows the other saw the same code.
//!
//! A code is 8 symbols of Crockford's base32 alphabet
//! (`0123456789ABCDEFGHJKMNPQRSTVWXYZ`: 32 symbols, exactly 5 bits each,
//! 40 bits a code). Each symbol is the low 5 bits of one random byte, so
//! every symbol is equally likely. People may type `O` for `0`, `I` or `L`
//! for `1` and `U` for `V`: the look-alikes the alphabet leaves out.
//!
//! Both proofs come from one derivation, salted with both fingerprints so
//! they are bound to this slave and this master:
//!
//! ```text
//! K            = PBKDF2-HMAC-SHA256(code, "outpost-pairing-v1:" + slave_fp + ":" + master_fp,
//!                                   50_000 rounds, 64 bytes)
//! slave proof  = hex(K[0..32])                              (hello.proof)
//! master proof = hex(HMAC-SHA256(K[32..64],
//!                  "outpost-master-proof-v1:" + slave_fp + ":" + master_fp))  (offer.proof)
//! ```
//!
//! `K[0..32]` is PBKDF2's first block, the very value slaves sent before
//! the master proved anything (the wire format of `hello` is unchanged).
//! `K[32..64]` is the second block: a listener who saw the slave's proof
//! learns nothing of it, so a PC that announces the office's name but does
//! not know the code cannot make the master proof, and a slave pairing by
//! code refuses its offer.

use std::fmt;

use hmac::Mac;
use subtle::ConstantTimeEq;

/// Symbols of a pairing code: Crockford's base32 (no I, L, O, U).
pub const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a code (5 bits each: 40 bits), shown as two groups of four.
pub const CODE_LEN: usize = 8;
/// PBKDF2 rounds of the code derivation: a slave makes one per pairing,
/// while someone who sniffed a proof off the LAN would need about 2^40 of
/// them to find the code, far beyond the code's ten minutes.
pub const PROOF_ROUNDS: u32 = 50_000;

const SALT_LABEL: &str = "outpost-pairing-v1";
const MASTER_LABEL: &str = "outpost-master-proof-v1";

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

/// What one code derivation gives both sides (see the module doc). Its
/// `Debug` shows no key material.
pub struct CodeKeys {
    slave_proof: String,
    master_key: [u8; 32],
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
    /// Derives both proofs of `code` for this slave and this master (a
    /// deliberately slow hash: run it off the async runtime).
    pub fn derive(code: &str, slave_fp: &str, master_fp: &str) -> CodeKeys {
        let salt = format!("{SALT_LABEL}:{slave_fp}:{master_fp}");
        let mut k = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            normalize_code(code).as_bytes(),
            salt.as_bytes(),
            PROOF_ROUNDS,
            &mut k,
        );
        let mut master_key = [0u8; 32];
        master_key.copy_from_slice(&k[32..]);
        CodeKeys {
            slave_proof: hex(&k[..32]),
            master_key,
            slave_fp: slave_fp.to_string(),
            master_fp: master_fp.to_string(),
        }
    }

    /// What the slave sends in `hello` instead of the code.
    pub fn slave_proof(&self) -> &str {
        &self.slave_proof
    }

    /// What the master sends with its offer: it knows the code too.
    pub fn master_proof(&self) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.master_key)
            .expect("HMAC takes a key of any length");
        mac.update(format!("{MASTER_LABEL}:{}:{}", self.slave_fp, self.master_fp).as_bytes());
        hex(&mac.finalize().into_bytes())
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

fn hex(bytes: &[u8]) -> String {
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
    /// (`ui/src/lib/rtc/rtc.test.ts`): both make the same proofs.
    #[test]
    fn the_code_proofs_match_the_browser() {
        assert_eq!(normalize_code("k0lo-1ixz"), "K01011XZ");
        let (s, m) = ("a".repeat(64), "0123456789abcdef".repeat(4));
        let keys = CodeKeys::derive("k0lo-1ixz", &s, &m);
        assert_eq!(
            keys.slave_proof(),
            "44568416c07866fdceebe44ea511d4196017205f110efd47207896fa7f99083a"
        );
        assert_eq!(
            keys.master_proof(),
            "0a2372e887542100c810e69f6979feb909b64926cdd3fa39aeadb793afc95959"
        );
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
