#!/usr/bin/python3
# Runs one piece of a throw-away OpenStack Swift store (test/support/swift.ts) whose every
# file lives in DIR. Swift 2.30 reads swift.conf from the hard-coded /etc/swift; this points
# it at DIR first (as /usr/bin/swift-*-server would run, otherwise unchanged).
#   swift-launch.py DIR rings ACCOUNT_PORT CONTAINER_PORT OBJECT_PORT   build the three rings
#   swift-launch.py DIR proxy|account|container|object CONF             run a server (foreground)
#   swift-launch.py DIR updater CONF                                    the object updater (foreground)
#   swift-launch.py DIR exec COMMAND ARGS...                            run COMMAND (memcached)
# Every process started here dies with the test process that started it (PR_SET_PDEATHSIG),
# so a killed test run leaves no servers behind.
import ctypes
import os
import signal
import sys

ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

from swift.common import storage_policy, utils


def build_rings(swift_dir, ports):
    from swift.common.ring import RingBuilder

    for name, port in zip(('account', 'container', 'object'), ports):
        builder = RingBuilder(8, 1, 1)
        builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port),
                         'device': 'd1', 'weight': 1})
        builder.rebalance()
        builder.save(f'{swift_dir}/{name}.builder')
        builder.get_ring().save(f'{swift_dir}/{name}.ring.gz')


def main():
    swift_dir, role = sys.argv[1], sys.argv[2]
    if role == 'exec':
        os.execvp(sys.argv[3], sys.argv[3:])
    utils.set_swift_dir(swift_dir)
    storage_policy.reload_storage_policies()
    if role == 'rings':
        build_rings(swift_dir, sys.argv[3:6])
        return 0
    if role == 'updater':
        # Sends the container updates that an object server deferred (async_pending) when the
        # container server was slow: without it those objects never appear in listings.
        from swift.common.daemon import run_daemon
        from swift.obj.updater import ObjectUpdater

        run_daemon(ObjectUpdater, sys.argv[3], once=False)
        return 0
    from swift.common.wsgi import run_wsgi

    conf = sys.argv[3]
    extra = {}
    if role == 'object':
        from swift.obj import server

        extra['global_conf_callback'] = server.global_conf_callback
    return run_wsgi(conf, f'{role}-server', **extra)


if __name__ == '__main__':
    sys.exit(main())
