"""The lab around the bank: servers for a lesson and a room.

`brokers` (a three-broker cluster for notebook 05), `doctor` (what is missing and how to fix it),
`workshop` (namespaces, resets, dead letters, a secured room) and `sample` (the recorded log).
The local stack itself is `banku.stack`.
"""
