# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_jotta_global_optspecs
    string join \n endpoint= config-dir= ca-cert= q/quiet h/help V/version
end

function __fish_jotta_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_jotta_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_jotta_using_subcommand
    set -l cmd (__fish_jotta_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c jotta -n "__fish_jotta_needs_command" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_needs_command" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_needs_command" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_needs_command" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_needs_command" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_needs_command" -s V -l version -d 'Print version'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "login" -d 'Log in with a personal login token (from the web UI: Settings > Security > Personal login token). Reads the token from stdin when not given'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "logout" -d 'Forget the saved login'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "whoami" -d 'Show the account: user, storage used of total, devices and their mount points'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "ls" -d 'List the account (`/`), a device, or a folder. Paths without a device mean /Jotta: `Archive/x`'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "put" -d 'Upload a file, or a folder with -r. A remote path ending in `/` keeps the local name'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "get" -d 'Download a file, or a folder with -r. Files appear only once complete and md5-verified; an interrupted download continues where it stopped when run again'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "mkdir" -d 'Create a folder'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "rm" -d 'Move a file (or a folder with -r) to the trash'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "mv" -d 'Move or rename a file or folder on the server (into TO when TO is a folder)'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "cp" -d 'Copy a file (or a folder with -r) on the server; no bytes travel'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "cat" -d 'Write a file\'s content to stdout'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "share" -d 'Make a file public and print its link (fetchable without credentials)'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "unshare" -d 'Revoke a file\'s public link'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "trash" -d 'List the trash, or restore from it, or empty it'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "revisions" -d 'List the versions of a file, fetch one, or make one current'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "status" -d 'Show running mounts: pending uploads and bytes, progress, rate and time left, failures with their reason, dedupe hits'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "scan" -d 'Back up a local folder to /Device/MountPoint/Folder as a one-way mirror: upload new and changed files, trash what was deleted locally, create and remove folders to match'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "index" -d 'File indexes: what a local or remote tree holds (create), what changed between two (diff)'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "archive" -d 'Offline sync: pack the changes against a target\'s index into one file; apply it at the target'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "sync" -d 'Make DST equal to SRC (local folders or jotta:/Device/MountPoint/path); only differences move'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "emulator" -d 'Run the protocol-faithful JottaCloud emulator (for tests, benchmarks and the demo)'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "completions" -d 'Print the shell completion script of `jotta` (e.g. `jotta completions bash > /etc/bash_completion.d/jotta`)'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "generate-docs" -d 'Write the man pages and shell completions of both programs into DIR/man and DIR/completions (how contrib/man and contrib/completions are made: `jotta generate-docs contrib`)'
complete -c jotta -n "__fish_jotta_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand login" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand login" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand login" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand login" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand login" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand logout" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand logout" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand logout" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand logout" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand logout" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand whoami" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand whoami" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand whoami" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand whoami" -l json -d 'Print JSON for scripts (sizes in bytes)'
complete -c jotta -n "__fish_jotta_using_subcommand whoami" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand whoami" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand ls" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand ls" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand ls" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand ls" -s l -l long -d 'Long format: size, modification time, md5'
complete -c jotta -n "__fish_jotta_using_subcommand ls" -s R -l recursive -d 'Everything below the folder, with paths relative to it'
complete -c jotta -n "__fish_jotta_using_subcommand ls" -l deleted -d 'Show the folder\'s trashed entries instead of its live ones'
complete -c jotta -n "__fish_jotta_using_subcommand ls" -l json -d 'Print JSON (one array of entries) for scripts'
complete -c jotta -n "__fish_jotta_using_subcommand ls" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand ls" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand put" -s j -l jobs -d 'Files in flight at once' -r
complete -c jotta -n "__fish_jotta_using_subcommand put" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand put" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand put" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand put" -s r -l recursive -d 'Upload a folder and everything in it'
complete -c jotta -n "__fish_jotta_using_subcommand put" -l json -d 'No line per file; print the summary as JSON for scripts'
complete -c jotta -n "__fish_jotta_using_subcommand put" -s l -l links -d 'Upload symbolic links as NAME.rclonelink files holding their target (rclone\'s --links); without it they are skipped with a note'
complete -c jotta -n "__fish_jotta_using_subcommand put" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand put" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand get" -s j -l jobs -d 'Files in flight at once' -r
complete -c jotta -n "__fish_jotta_using_subcommand get" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand get" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand get" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand get" -s r -l recursive -d 'Download a folder and everything in it'
complete -c jotta -n "__fish_jotta_using_subcommand get" -l json -d 'No line per file; print the summary as JSON for scripts'
complete -c jotta -n "__fish_jotta_using_subcommand get" -s l -l links -d 'Turn NAME.rclonelink files back into symbolic links NAME (rclone\'s --links)'
complete -c jotta -n "__fish_jotta_using_subcommand get" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand get" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand mkdir" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand mkdir" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand mkdir" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand mkdir" -s p -l parents -d 'Create missing parents too; an existing folder is fine'
complete -c jotta -n "__fish_jotta_using_subcommand mkdir" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand mkdir" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand rm" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand rm" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand rm" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand rm" -s r -l recursive -d 'Remove a folder and everything in it'
complete -c jotta -n "__fish_jotta_using_subcommand rm" -l permanent -d 'Delete for good instead of moving to the trash'
complete -c jotta -n "__fish_jotta_using_subcommand rm" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand rm" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand mv" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand mv" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand mv" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand mv" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand mv" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand cp" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand cp" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand cp" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand cp" -s r -l recursive -d 'Copy a folder and everything in it'
complete -c jotta -n "__fish_jotta_using_subcommand cp" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand cp" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand cat" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand cat" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand cat" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand cat" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand cat" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand share" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand share" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand share" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand share" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand share" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand unshare" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand unshare" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand unshare" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand unshare" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand unshare" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -l json -d 'Print the listing as JSON for scripts'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -f -a "restore" -d 'Bring a trashed file or folder back to where it was (give the path it had)'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -f -a "empty" -d 'Delete everything in the trash for good'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and not __fish_seen_subcommand_from restore empty help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from restore" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from restore" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from restore" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from restore" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from empty" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from empty" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from empty" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from empty" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from empty" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Bring a trashed file or folder back to where it was (give the path it had)'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from help" -f -a "empty" -d 'Delete everything in the trash for good'
complete -c jotta -n "__fish_jotta_using_subcommand trash; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -l json -d 'Print the listing as JSON for scripts'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -a "get" -d 'Download revision N of a file to LOCAL'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -a "restore" -d 'Make revision N the current version (no bytes are uploaded)'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and not __fish_seen_subcommand_from get restore help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from get" -s o -l output -d 'The local file to write' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from get" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from get" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from get" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from get" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from restore" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from restore" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from restore" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from restore" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from help" -f -a "get" -d 'Download revision N of a file to LOCAL'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Make revision N the current version (no bytes are uploaded)'
complete -c jotta -n "__fish_jotta_using_subcommand revisions; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand status" -l endpoint -r
complete -c jotta -n "__fish_jotta_using_subcommand status" -l config-dir -r -F
complete -c jotta -n "__fish_jotta_using_subcommand status" -l ca-cert -r -F
complete -c jotta -n "__fish_jotta_using_subcommand status" -l json -d 'Print the raw status documents as JSON'
complete -c jotta -n "__fish_jotta_using_subcommand status" -l watch -d 'Refresh every second until Ctrl-C (in place on a terminal; exits 130)'
complete -c jotta -n "__fish_jotta_using_subcommand status" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand status" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l exclude -d 'Leave out paths matching a gitignore-style PATTERN (repeatable): `*.tmp`, `/build`, `cache/`' -r
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l rescan -d 'Seconds between safety-net full rescans under --watch' -r
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l no-delete -d 'Keep remote files and folders that were deleted locally'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l no-checksum -d 'Compare size and modification time only, never md5 (faster; misses a change that keeps both)'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -s n -l dry-run -d 'Show what would be done; change nothing on JottaCloud'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -s l -l links -d 'Back up symbolic links as NAME.rclonelink files holding their target (rclone\'s --links); without it they are skipped with a note'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l json -d 'Print the summary as JSON (one document per pass; one line each under --watch)'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -l watch -d 'Keep running: back up changes as they happen (inotify), with a full rescan every --rescan seconds'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand scan" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -f -a "create" -d 'Write the index of a local folder or of a remote folder (`jotta:/Jotta/Archive/x`) to FILE'
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -f -a "diff" -d 'What was added, changed and removed going from OLD to NEW (folders end with `/`)'
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -f -a "show" -d 'Show what an index holds: its source, when it was taken, its entries'
complete -c jotta -n "__fish_jotta_using_subcommand index; and not __fish_seen_subcommand_from create diff show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -s o -l output -d 'Where to write the index' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -l md5 -d 'Local folders: compute every file\'s md5 (cached ones are always included). Remote folders always carry the server\'s md5s'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -l by-time -d 'Count a file as changed when its size or modification time differs (default: size only)'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -l by-hash -d 'Count a file as changed when its md5 differs (local md5s are computed where not cached)'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -l json -d 'Print {"added": [...], "changed": [...], "removed": [...]}'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from show" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from show" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from show" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from show" -s l -l long -d 'List every entry (path, size, mtime, md5)'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "create" -d 'Write the index of a local folder or of a remote folder (`jotta:/Jotta/Archive/x`) to FILE'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "diff" -d 'What was added, changed and removed going from OLD to NEW (folders end with `/`)'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show what an index holds: its source, when it was taken, its entries'
complete -c jotta -n "__fish_jotta_using_subcommand index; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -f -a "create" -d 'Pack every file of SOURCE that is new or changed against TARGET.idx, plus the deletions, into one tar file (gzipped with --gzip or a .gz/.tgz name)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -f -a "apply" -d 'Bring TARGET up to date from ARCHIVE: checks TARGET still matches the index the archive was made against, verifies every file\'s md5, replaces files atomically; safe to run again'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and not __fish_seen_subcommand_from create apply help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l source -d 'A local folder or `jotta:/Device/MountPoint/path` (only its new and changed files are fetched)' -r
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l against -d 'The index of the copy to bring up to date' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l from -d 'Timeline: describe the source by this later index instead of walking it (its files must still be as indexed)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -s o -l output -d 'Where to write the archive (`.gz`/`.tgz` compresses it)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l gzip
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l by-time -d 'Count a file as changed when its size or modification time differs (default: size only)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -l by-hash -d 'Count a file as changed when its md5 differs (local md5s are computed where not cached)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -l no-delete -d 'Add and update only; keep files the source deleted (and files added at the target)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -l force -d 'Apply even if TARGET changed since its index was taken'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -s n -l dry-run -d 'Check and show what would be done; change nothing'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from help" -f -a "create" -d 'Pack every file of SOURCE that is new or changed against TARGET.idx, plus the deletions, into one tar file (gzipped with --gzip or a .gz/.tgz name)'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Bring TARGET up to date from ARCHIVE: checks TARGET still matches the index the archive was made against, verifies every file\'s md5, replaces files atomically; safe to run again'
complete -c jotta -n "__fish_jotta_using_subcommand archive; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l against -d 'Timeline: take DST to be as this index says (a copy made when it was taken) instead of looking' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l from -d 'Timeline: describe SRC by this later index (its files must still be as indexed)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand sync" -s j -l jobs -d 'Files in flight at once' -r
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l endpoint -d 'Service base URL (an emulator); remembered by `login`. Default: the real JottaCloud hosts' -r
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l config-dir -d 'Folder holding credentials (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l ca-cert -d 'One more CA to trust (PEM), besides the system store and the bundled roots: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s. Not saved by `login`: give it to every command (or set the env)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l no-delete -d 'Add and update only; delete nothing at DST'
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l by-time -d 'Count a file as changed when its size or modification time differs (default: size only)'
complete -c jotta -n "__fish_jotta_using_subcommand sync" -l by-hash -d 'Count a file as changed when its md5 differs (local md5s are computed where not cached)'
complete -c jotta -n "__fish_jotta_using_subcommand sync" -s n -l dry-run -d 'Show what would be done; change nothing'
complete -c jotta -n "__fish_jotta_using_subcommand sync" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand sync" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l data -d 'Directory holding the emulated account (created if missing)' -r -F
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l listen -d 'Address to listen on. With port 0 (the default) it takes the port it had last time for this data folder, if free (so a saved login stays valid), else any free port' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l user -d 'Internal username of the account' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l password -d 'Password for legacy HTTP Basic auth' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l quota -d 'Account capacity in bytes (unlimited when absent)' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l token-lifetime -d 'Access token lifetime in seconds' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l latency-ms -d 'Delay before every answer, in milliseconds' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l bandwidth -d 'Bandwidth limit per connection, bytes per second' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l error-rate -d 'Fraction of requests answered 500' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l throttle-rate -d 'Fraction of requests answered 429' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l drop-rate -d 'Fraction of file bodies cut mid-way' -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l profile -d 'Network profile; explicit --latency-ms/--bandwidth override it' -r -f -a "wan\t'20 ms latency and 50 MiB/s per connection'"
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l endpoint -r
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l config-dir -r -F
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l ca-cert -r -F
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l demo-content -d 'Seed a small sample tree when the data dir is new'
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -l tls -d 'Serve HTTPS: a CA and a server certificate for localhost/127.0.0.1 are made in DIR/tls the first time and kept; clients are to trust the CA file it prints as `ca_cert=` (DIR/tls/ca.pem)'
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand emulator" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jotta -n "__fish_jotta_using_subcommand completions" -l endpoint -r
complete -c jotta -n "__fish_jotta_using_subcommand completions" -l config-dir -r -F
complete -c jotta -n "__fish_jotta_using_subcommand completions" -l ca-cert -r -F
complete -c jotta -n "__fish_jotta_using_subcommand completions" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand completions" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand generate-docs" -l endpoint -r
complete -c jotta -n "__fish_jotta_using_subcommand generate-docs" -l config-dir -r -F
complete -c jotta -n "__fish_jotta_using_subcommand generate-docs" -l ca-cert -r -F
complete -c jotta -n "__fish_jotta_using_subcommand generate-docs" -s q -l quiet -d 'Print only errors and the final summary of tree transfers, not a line per file'
complete -c jotta -n "__fish_jotta_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "login" -d 'Log in with a personal login token (from the web UI: Settings > Security > Personal login token). Reads the token from stdin when not given'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "logout" -d 'Forget the saved login'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "whoami" -d 'Show the account: user, storage used of total, devices and their mount points'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "ls" -d 'List the account (`/`), a device, or a folder. Paths without a device mean /Jotta: `Archive/x`'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "put" -d 'Upload a file, or a folder with -r. A remote path ending in `/` keeps the local name'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "get" -d 'Download a file, or a folder with -r. Files appear only once complete and md5-verified; an interrupted download continues where it stopped when run again'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "mkdir" -d 'Create a folder'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "rm" -d 'Move a file (or a folder with -r) to the trash'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "mv" -d 'Move or rename a file or folder on the server (into TO when TO is a folder)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "cp" -d 'Copy a file (or a folder with -r) on the server; no bytes travel'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "cat" -d 'Write a file\'s content to stdout'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "share" -d 'Make a file public and print its link (fetchable without credentials)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "unshare" -d 'Revoke a file\'s public link'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "trash" -d 'List the trash, or restore from it, or empty it'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "revisions" -d 'List the versions of a file, fetch one, or make one current'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "status" -d 'Show running mounts: pending uploads and bytes, progress, rate and time left, failures with their reason, dedupe hits'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "scan" -d 'Back up a local folder to /Device/MountPoint/Folder as a one-way mirror: upload new and changed files, trash what was deleted locally, create and remove folders to match'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "index" -d 'File indexes: what a local or remote tree holds (create), what changed between two (diff)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "archive" -d 'Offline sync: pack the changes against a target\'s index into one file; apply it at the target'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "sync" -d 'Make DST equal to SRC (local folders or jotta:/Device/MountPoint/path); only differences move'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "emulator" -d 'Run the protocol-faithful JottaCloud emulator (for tests, benchmarks and the demo)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "completions" -d 'Print the shell completion script of `jotta` (e.g. `jotta completions bash > /etc/bash_completion.d/jotta`)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "generate-docs" -d 'Write the man pages and shell completions of both programs into DIR/man and DIR/completions (how contrib/man and contrib/completions are made: `jotta generate-docs contrib`)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and not __fish_seen_subcommand_from login logout whoami ls put get mkdir rm mv cp cat share unshare trash revisions status scan index archive sync emulator completions generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from trash" -f -a "restore" -d 'Bring a trashed file or folder back to where it was (give the path it had)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from trash" -f -a "empty" -d 'Delete everything in the trash for good'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from revisions" -f -a "get" -d 'Download revision N of a file to LOCAL'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from revisions" -f -a "restore" -d 'Make revision N the current version (no bytes are uploaded)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from index" -f -a "create" -d 'Write the index of a local folder or of a remote folder (`jotta:/Jotta/Archive/x`) to FILE'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from index" -f -a "diff" -d 'What was added, changed and removed going from OLD to NEW (folders end with `/`)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from index" -f -a "show" -d 'Show what an index holds: its source, when it was taken, its entries'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from archive" -f -a "create" -d 'Pack every file of SOURCE that is new or changed against TARGET.idx, plus the deletions, into one tar file (gzipped with --gzip or a .gz/.tgz name)'
complete -c jotta -n "__fish_jotta_using_subcommand help; and __fish_seen_subcommand_from archive" -f -a "apply" -d 'Bring TARGET up to date from ARCHIVE: checks TARGET still matches the index the archive was made against, verifies every file\'s md5, replaces files atomically; safe to run again'
