//! A LAN of network namespaces on this machine: one per PC, joined by a
//! bridge in a namespace of its own (mDNS does not run on loopback). Needs
//! root (`ip netns`); [`Lan::make`] says why when namespaces cannot be made,
//! and the tests that need one skip with those words.

use std::process::{Child, Command, Output};

pub struct Lan {
    /// The PCs' namespaces, in order; PC `i` is at [`Lan::ip`]`(i)`.
    pub hosts: Vec<String>,
    hub: String,
    net: String,
}

impl Lan {
    /// `pcs` namespaces on one /24, `tag` keeping this test's names apart
    /// from another test's running at the same time.
    pub fn make(tag: u32, pcs: usize) -> Result<Lan, String> {
        let id = (std::process::id() % 1000) * 10 + tag % 10;
        let lan = Lan {
            hosts: (0..pcs).map(|i| format!("op{id}p{i}")).collect(),
            hub: format!("op{id}hub"),
            net: format!("10.{}.{}", 70 + tag % 10, id % 250),
        };
        let mut steps: Vec<String> = vec![
            format!("netns add {}", lan.hub),
            format!("-n {} link add br0 type bridge", lan.hub),
            format!("-n {} link set br0 up", lan.hub),
        ];
        for (i, ns) in lan.hosts.iter().enumerate() {
            let (pc, port) = (format!("v{id}p{i}"), format!("v{id}b{i}"));
            steps.extend([
                format!("netns add {ns}"),
                format!("link add {pc} type veth peer name {port}"),
                format!("link set {pc} netns {ns}"),
                format!("link set {port} netns {}", lan.hub),
                format!("-n {} link set {port} master br0", lan.hub),
                format!("-n {} link set {port} up", lan.hub),
                format!("-n {ns} addr add {}/24 dev {pc}", lan.ip(i)),
                format!("-n {ns} link set {pc} up"),
                format!("-n {ns} link set lo up"),
            ]);
        }
        for step in steps {
            let out = Command::new("ip")
                .args(step.split(' '))
                .output()
                .map_err(|e| format!("cannot run ip: {e}"))?;
            if !out.status.success() {
                lan.cleanup();
                return Err(format!(
                    "`ip {step}` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(lan)
    }

    /// PC `i`'s address.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.net, i + 1)
    }

    /// `outpost` run on PC `i` (its slave calls signed in as the tests'
    /// manager, [`crate::SIGN_IN`]).
    pub fn cmd(&self, i: usize) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i]])
            .arg(crate::outpost_bin());
        c.env_remove("OUTPOST_DATA")
            .env_remove("RUST_LOG")
            .envs(crate::SIGN_IN);
        c
    }

    /// Another program of this workspace (`sibling_bin`) run on PC `i`.
    pub fn cmd_bin(&self, i: usize, bin: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i]])
            .arg(crate::sibling_bin(bin));
        c.env_remove("RUST_LOG");
        c
    }

    /// PC `i`'s network interface (its end of the cable).
    fn interface(&self, i: usize) -> String {
        let id = self.hosts[i]
            .trim_start_matches("op")
            .split('p')
            .next()
            .unwrap_or_default()
            .to_string();
        format!("v{id}p{i}")
    }

    /// Runs `ip -n PC ARGS...` on PC `i`; panics with its words on failure.
    fn ip_on(&self, i: usize, args: &[&str]) {
        let out = Command::new("ip")
            .args(["-n", &self.hosts[i]])
            .args(args)
            .output()
            .expect("ip runs");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Unplugs PC `i` from the LAN (`up`: plugs it back in); its address
    /// stays.
    pub fn plug(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        self.ip_on(i, &["link", "set", &self.interface(i), state]);
    }

    /// Gives PC `i`'s interface one more address (`cidr`, e.g.
    /// `198.51.100.7/24`), as a second network on the same cable.
    pub fn add_address(&self, i: usize, cidr: &str) {
        self.ip_on(i, &["addr", "add", cidr, "dev", &self.interface(i)]);
    }

    /// The listening TCP sockets on PC `i` (`ss -ltn`'s local addresses).
    pub fn listening(&self, i: usize) -> Vec<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.hosts[i], "ss", "-ltnH"])
            .output()
            .expect("ss runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }

    fn cleanup(&self) {
        for ns in self.hosts.iter().chain([&self.hub]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A finished command's stdout and stderr, as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
