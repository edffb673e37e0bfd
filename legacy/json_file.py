"""Reading a legacy JSON file, with one-line reasons when it is not JSON."""

import json

from legacy.values import Malformed


def load(path):
    data = path.read_bytes()
    try:
        return json.loads(data)
    except UnicodeDecodeError as e:
        raise Malformed(f"not UTF-8 text (byte {e.start + 1})") from None
    except json.JSONDecodeError as e:
        raise Malformed(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise Malformed("invalid JSON: nested too deeply") from None
