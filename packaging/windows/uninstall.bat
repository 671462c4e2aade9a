@echo off
rem Stop and remove the OIBus service NAME (default OIBus); the data folder is kept.
rem   uninstall.bat [-n NAME]
"%~dp0oibus-launcher.exe" --uninstall-service %*
exit /b %ERRORLEVEL%
