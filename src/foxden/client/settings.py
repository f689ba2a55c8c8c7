"""Where the client finds its farm: server address rules and the stored login.

Address rules (`server_url`): a full URL (`http://farm:8642`, `https://farm.example.com`) is used
as given; `host:port` means `http://host:port`; a bare host means `http://host:8642`, foxden's
default port (the vendor's clients gave bare hosts such as `www5.renderbus.com`). Give an
`https://` URL for a farm that serves HTTPS (`foxden serve --tls-cert`, `foxden up --tls`), with
the farm's certificate as `ca_cert` when it is self-signed.

The login (`foxden login`) is kept in `$FOXDEN_CONFIG_DIR` or `$XDG_CONFIG_HOME/foxden` or
`~/.config/foxden`, file `client.json`, mode 0600, with the CA certificate to trust if any.
FOXDEN_SERVER, FOXDEN_ACCOUNT, FOXDEN_ACCESS_KEY and FOXDEN_CA_CERT override what the file says.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from foxden.errors import BadRequest, Unauthorized

DEFAULT_PORT = 8642
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def server_url(value: str) -> str:
    """The base URL of a farm given as a URL, `host:port` or a bare host (port 8642)."""
    text = (value or "").strip().rstrip("/")
    if not text:
        raise BadRequest("no farm server given: pass render_server='host', 'host:port' or a URL")
    if "://" in text:
        if not text.startswith(("http://", "https://")):
            raise BadRequest(f"farm server {value!r}: only http:// and https:// URLs are supported")
        return text
    if _HOST_PORT.match(text):
        return f"http://{text}"
    if "/" in text or " " in text:
        raise BadRequest(f"farm server {value!r} is neither a host, host:port nor a URL")
    return f"http://{text}:{DEFAULT_PORT}"


def config_dir() -> Path:
    """The client's config folder."""
    if os.environ.get("FOXDEN_CONFIG_DIR"):
        return Path(os.environ["FOXDEN_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "foxden"


@dataclass(frozen=True)
class Login:
    """A farm address, an account name and its access key."""

    server: str
    account: str
    access_key: str
    ca_cert: str = ""  # the CA bundle (or farm certificate) to trust; '' = the system's

    def verify(self) -> str | bool:
        """What `Client(verify=)` takes for this login."""
        return self.ca_cert or True


def login_file() -> Path:
    """Where `foxden login` stores the login."""
    return config_dir() / "client.json"


def save_login(login: Login, path: Path | None = None) -> Path:
    """Store the login, readable by the user only."""
    target = path or login_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(login), fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


def read_credentials(path: Path) -> Login:
    """A login from a JSON file ({render_server|server, account, access_key}), e.g. `foxden up`'s."""
    try:
        data = json.loads(path.read_text())
        return Login(
            str(data.get("render_server") or data["server"]),
            str(data["account"]),
            str(data["access_key"]),
            str(data.get("ca_cert") or ""),
        )
    except FileNotFoundError:
        raise BadRequest(
            f"{path} does not exist: start the farm first (foxden up --data-dir ...)"
        ) from None
    except (KeyError, ValueError, TypeError) as exc:
        raise BadRequest(f"{path} is not a foxden credentials file ({exc})") from None


def load_login(environ: dict[str, str] | None = None, path: Path | None = None) -> Login:
    """The stored login with the environment's overrides; raises if something is missing."""
    env = os.environ if environ is None else environ
    target = path or login_file()
    stored: dict[str, str] = {}
    if target.exists():
        login = read_credentials(target)
        stored = asdict(login)
    values = {
        "server": env.get("FOXDEN_SERVER") or stored.get("server", ""),
        "account": env.get("FOXDEN_ACCOUNT") or stored.get("account", ""),
        "access_key": env.get("FOXDEN_ACCESS_KEY") or stored.get("access_key", ""),
    }
    missing = [k for k, v in values.items() if not v]
    values["ca_cert"] = env.get("FOXDEN_CA_CERT") or stored.get("ca_cert", "")
    if missing:
        raise Unauthorized(
            f"not logged in ({', '.join(missing)} unknown): run 'foxden login --server URL "
            "--account NAME --key KEY' or set FOXDEN_SERVER, FOXDEN_ACCOUNT and FOXDEN_ACCESS_KEY"
        )
    return Login(**values)
