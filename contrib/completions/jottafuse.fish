complete -c jottafuse -s o -d 'Mount options, comma separated (repeatable)' -r
complete -c jottafuse -l root -d 'Mount only this subtree, e.g. /Jotta/Archive' -r
complete -c jottafuse -l endpoint -d 'Service base URL (an emulator); default: what `jotta login` saved, else the real service' -r
complete -c jottafuse -l config-dir -d 'Folder holding the saved login, as for `jotta` (default: $XDG_CONFIG_HOME/jottafuse)' -r -F
complete -c jottafuse -l ca-cert -d 'One more CA to trust (PEM), as for `jotta`: a TLS-inspecting proxy\'s, or `jotta emulator --tls`\'s' -r -F
complete -c jottafuse -s f -l foreground -d 'Stay in the foreground (logs go to stderr)'
complete -c jottafuse -s d -l debug -d 'Debug logging, in the foreground (implies -f, as in libfuse and sshfs)'
complete -c jottafuse -l demo -d 'Mount the embedded demo account (no JottaCloud account or network needed)'
complete -c jottafuse -s h -l help -d 'Print help'
complete -c jottafuse -s V -l version -d 'Print version'
