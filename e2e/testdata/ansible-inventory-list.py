"""`ansible-inventory -i FILE --list` for many FILEs in one Python process.

Each FILE goes through ansible's own code, the calls ansible-inventory
--list makes (ansible/cli/inventory.py, InventoryCLI.run): the CLI's
argument parser sets the global context once (context.CLIARGS is a
singleton: a second parse keeps the first -i, so every FILE would read the
first one's inventory), then for each FILE a fresh DataLoader,
InventoryManager and VariableManager, built as CLI._play_prereqs builds
them but for that one source, and the CLI's own json_inventory and dump
produce the JSON. Only the Python start-up (about a second of CPU) is
shared. Prints one JSON object: {FILE: {"list": <--list output>} or
{"error": "..."}}.
"""

import json
import sys

from ansible import constants as C
from ansible import context
from ansible.cli import CLI
from ansible.cli.inventory import InventoryCLI
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager


def prereqs(source):
    """CLI._play_prereqs (ansible/cli/__init__.py) for one source."""
    options = context.CLIARGS
    loader = DataLoader()
    vault_ids = C.DEFAULT_VAULT_IDENTITY_LIST + list(options['vault_ids'])
    loader.set_vault_secrets(CLI.setup_vault_secrets(
        loader, vault_ids=vault_ids,
        vault_password_files=list(options['vault_password_files']),
        ask_vault_pass=options['ask_vault_pass'], auto_prompt=False))
    inventory = InventoryManager(loader=loader, sources=[source],
                                 cache=(not options.get('flush_cache')))
    vm = VariableManager(loader=loader, inventory=inventory,
                         version_info=CLI.version_info(gitinfo=False))
    return loader, inventory, vm


def main(files):
    cli = InventoryCLI(['ansible-inventory', '--list'])
    cli.parse()
    out = {}
    for f in files:
        try:
            cli.loader, cli.inventory, cli.vm = prereqs(f)
            text = cli.dump(cli.json_inventory(cli._get_group('all')))
            out[f] = {'list': json.loads(text)}
        except Exception as e:  # one bad file must not hide the others
            out[f] = {'error': '%s: %s' % (type(e).__name__, e)}
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == '__main__':
    main(sys.argv[1:])
