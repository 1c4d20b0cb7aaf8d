"""How livehost launches Debian Chromium headless (tests and the preview benchmark): as root in a container it
only runs with these flags, and Playwright's own browser download is never used."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # WebRTC preview on this machine: loopback candidates allowed, real addresses instead of mDNS names (the show's
    # side offers loopback only for a dashboard bound to it; nothing is resolved over the network).
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
