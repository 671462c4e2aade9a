@echo off
rem Install OIBus from this unpacked bundle as a Windows service (run as administrator).
rem   install.bat [-n NAME] [-c DATA_DIR] [-u ADMIN_USER] [-p ADMIN_PASSWORD] [-port PORT]
rem The launcher does the work (oibus-launcher.exe --install-service): see packaging/README.md.
"%~dp0oibus-launcher.exe" --install-service %*
exit /b %ERRORLEVEL%
