"""Moving in: the file-based ~/.adt layout (config.yml, agents/, queue/, logs/agents/)
imported into the three databases. One reader per kind of file; importer.run()
ties them together and writes."""
