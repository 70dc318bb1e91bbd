"""Register a posemesh node with a Domain Discovery Service, then exit.

    pip install posemesh-registration
    POSEMESH_DDS_URL=https://dds.example.com \
    POSEMESH_REGISTRATION_SECRET=... \
    POSEMESH_PRIVATE_KEY=<64 hex digits> \
    python register.py

It registers with the wallet (SIWE) flow and signs in to the DDS for an access
token (shown by its expiry only); set POSEMESH_NODE_URL to use the legacy flow
instead, where the DDS calls the node back at that URL. Exits 0
once the node is registered ("registered", or "adopted" when the state file
already holds a fresh registration for this configuration), 1 if the DDS
refused or could not be reached, 2 if the configuration is incomplete. A node
that must *stay* registered runs ``registrar.start()`` (or ``run_forever()``)
instead; a legacy node also serves ``registrar.asgi_app()`` at its node URL.
See the package README.
"""

import logging
import os
import sys

import posemesh_registration as pr


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    dds_url = os.environ.get("POSEMESH_DDS_URL")
    secret = os.environ.get("POSEMESH_REGISTRATION_SECRET")
    if not dds_url or not secret:
        print("set POSEMESH_DDS_URL and POSEMESH_REGISTRATION_SECRET", file=sys.stderr)
        return 2
    key_hex = os.environ.get("POSEMESH_PRIVATE_KEY")
    key = pr.PrivateKey.from_hex(key_hex) if key_hex else pr.PrivateKey.generate()

    node_url = os.environ.get("POSEMESH_NODE_URL")
    registrar = pr.Registrar(
        dds_url=dds_url,
        flow="legacy" if node_url else "wallet",
        node_url=node_url,
        node_version="1.0.0",
        capabilities=["/reconstruction/global-refinement/v1"],
        registration_secret=secret,
        private_key=key,
        state=os.environ.get("POSEMESH_STATE_FILE"),  # None: keep state in memory
    )
    try:
        outcome = registrar.register_once()
    except pr.RegistrationError as error:  # never contains the key or the secret
        print(f"registration failed: {error}", file=sys.stderr)
        return 1
    print(f"registered {registrar.eth_address} with {registrar.dds_url}: {outcome}")
    if not node_url:
        # The DDS session: a bearer token for the node's own DDS calls, signed in
        # with the node's key. Use it as "Bearer " + token.expose(); never print it.
        try:
            token = registrar.token(timeout=30)
        except (pr.RegistrationError, TimeoutError) as error:
            print(f"sign-in failed: {error}", file=sys.stderr)
            return 1
        print(f"signed in; access token valid until {token.expires_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
