"""Every text of the web UI, in one catalogue per language (English first; French for login, home, connectors).

A page asks ``translate(lang, key)``; a key missing from a language falls back to English, and a key
missing from English shows as itself so that a forgotten text is visible, not blank.
"""

from __future__ import annotations

from aiohttp import web

LANG_COOKIE = "oibus_lang"
DEFAULT_LANG = "en"

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "app.title": "OIBus",
        "nav.home": "Home",
        "nav.engine": "Engine",
        "nav.south": "South",
        "nav.north": "North",
        "nav.logs": "Logs",
        "nav.oianalytics": "OIAnalytics",
        "oia.status": "Status",
        "oia.code": "Activation code",
        "oia.host": "Host",
        "oia.test": "Test connection",
        "oia.unregister": "Unregister",
        "oia.confirm_unregister": "Unregister from OIAnalytics?",
        "oia.registration": "Registration",
        "oia.register": "Register",
        "oia.commands": "Commands",
        "oia.retrieved": "Retrieved",
        "oia.result": "Result",
        "nav.logout": "Log out",
        "login.title": "Log in",
        "login.login": "Login",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.refused": "Wrong login or password.",
        "login.throttled": "Too many failed logins: try again later.",
        "login.expired": "The form expired: please try again.",
        "banner.default_password": "The admin user still has the default password: change it.",
        "home.title": "Home",
        "home.engine": "Engine",
        "home.version": "Version",
        "home.uptime": "Uptime",
        "home.memory": "Memory",
        "home.chart": "Throughput and cache size (last hour)",
        "home.values_per_s": "Values/s",
        "home.files_per_s": "Files/s",
        "home.cache_size": "Cache size",
        "home.last_error": "Last error",
        "connector.files_total": "Files",
        "home.state": "State",
        "home.none": "None configured yet.",
        "connector.name": "Name",
        "connector.type": "Type",
        "connector.description": "Description",
        "connector.enabled": "Enabled",
        "connector.state": "State",
        "connector.actions": "Actions",
        "connector.start": "Start",
        "connector.stop": "Stop",
        "connector.create": "Create",
        "connector.duplicate": "Duplicate",
        "connector.choose_type": "Choose a type",
        "connector.settings": "Settings",
        "connector.save": "Save",
        "connector.saved": "Saved.",
        "connector.invalid": "Some fields are not valid: see the messages next to them.",
        "connector.scan_mode": "Scan mode",
        "connector.item": "First item",
        "connector.item_name": "Item name",
        "connector.subscriptions": "Subscribed Souths",
        "south.title": "South connectors",
        "items.title": "Items",
        "items.search": "Search",
        "items.found": "items",
        "items.export": "Export CSV",
        "items.enable": "Enable",
        "items.disable": "Disable",
        "items.delete": "Delete",
        "items.confirm_delete": "Delete this item?",
        "north.title": "North connectors",
        "cache.title": "Cache explorer",
        "cache.cache": "Cache",
        "cache.error": "Error",
        "cache.archive": "Archive (sent)",
        "cache.file": "File",
        "cache.size": "Size",
        "cache.created": "Created",
        "cache.content": "Content",
        "connector.archive": "Archive sent files",
        "logs.title": "Logs",
        "logs.level": "Level",
        "logs.text": "Text",
        "logs.scope": "Scope",
        "logs.search": "Search",
        "logs.time": "Time",
        "logs.message": "Message",
        "logs.previous": "Previous",
        "logs.next": "Next",
        "engine.title": "Engine",
        "common.yes": "yes",
        "common.no": "no",
    },
    "fr": {
        "nav.home": "Accueil",
        "nav.engine": "Moteur",
        "nav.south": "Sud",
        "nav.north": "Nord",
        "nav.logs": "Journaux",
        "nav.logout": "Se déconnecter",
        "login.title": "Connexion",
        "login.login": "Identifiant",
        "login.password": "Mot de passe",
        "login.submit": "Se connecter",
        "login.refused": "Identifiant ou mot de passe incorrect.",
        "login.throttled": "Trop d'échecs de connexion : réessayez plus tard.",
        "login.expired": "Le formulaire a expiré : veuillez réessayer.",
        "banner.default_password": "L'utilisateur admin a toujours le mot de passe par défaut : changez-le.",
        "home.title": "Accueil",
        "home.engine": "Moteur",
        "home.version": "Version",
        "home.uptime": "Durée de fonctionnement",
        "home.memory": "Mémoire",
        "home.chart": "Débit et taille du cache (dernière heure)",
        "home.values_per_s": "Valeurs/s",
        "home.files_per_s": "Fichiers/s",
        "home.cache_size": "Taille du cache",
        "home.last_error": "Dernière erreur",
        "connector.files_total": "Fichiers",
        "home.state": "État",
        "home.none": "Aucun connecteur configuré.",
        "connector.name": "Nom",
        "connector.type": "Type",
        "connector.description": "Description",
        "connector.enabled": "Activé",
        "connector.state": "État",
        "connector.actions": "Actions",
        "connector.start": "Démarrer",
        "connector.stop": "Arrêter",
        "connector.create": "Créer",
        "connector.duplicate": "Dupliquer",
        "connector.choose_type": "Choisissez un type",
        "connector.settings": "Paramètres",
        "connector.save": "Enregistrer",
        "connector.saved": "Enregistré.",
        "connector.invalid": "Certains champs ne sont pas valides : voir les messages à côté.",
        "connector.scan_mode": "Mode d'acquisition",
        "connector.item": "Premier élément",
        "connector.item_name": "Nom de l'élément",
        "connector.subscriptions": "Souths abonnés",
        "south.title": "Connecteurs Sud",
        "items.title": "Éléments",
        "items.search": "Rechercher",
        "items.found": "éléments",
        "items.export": "Exporter en CSV",
        "items.enable": "Activer",
        "items.disable": "Désactiver",
        "items.delete": "Supprimer",
        "items.confirm_delete": "Supprimer cet élément ?",
        "north.title": "Connecteurs Nord",
        "cache.title": "Explorateur de cache",
        "connector.archive": "Archiver les fichiers envoyés",
        "common.yes": "oui",
        "common.no": "non",
    },
}


def translate(lang: str, key: str) -> str:
    """The text of ``key`` in ``lang``, else in English, else the key itself."""
    found = CATALOGUE.get(lang, {}).get(key)
    if found is not None:
        return found
    return CATALOGUE[DEFAULT_LANG].get(key, key)


def language(request: web.Request) -> str:
    """The language of a request: the ``oibus_lang`` cookie, else the first known ``Accept-Language`` tag."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in CATALOGUE:
        return chosen
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in CATALOGUE:
            return tag
    return DEFAULT_LANG
