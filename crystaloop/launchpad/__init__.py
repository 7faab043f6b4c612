"""The only FireWorks code: LaunchPad from settings, configuration files, workers."""
