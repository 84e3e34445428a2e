"""What a command's result becomes: the results themselves, what people see on stderr (ui, through
console, the only writer to the terminal), the objects scripts read on stdout (contract, schemas/,
yamltext, jsonpath as kubectl's), and list's Prometheus metrics."""
