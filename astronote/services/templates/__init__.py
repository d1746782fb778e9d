"""Message templates: the library of ready messages and the shop's own saved ones.

- `library`: ready messages by use case (sale, new arrival, ..., one per automation);
- `saved`: the shop's own templates (create, edit, delete) and the usage counts of both;
- `picking`: what a message box may use, and the reference a saved campaign or flow counts.
"""
