"""Shopper-facing text in English and German: a plain translation table.

``Translator("de")("find")`` → "Dieses Produkt finden". A missing German string falls back to
English, and a missing key is shown as the key itself (a test checks both tables have the
same keys), so a gap is visible but never a crash.
"""

from __future__ import annotations

from typing import Any

EN: dict[str, str] = {
    "app_title": "Find a product",
    "language_button": "Deutsch",
    "find": "Find this product",
    "auto_on": "Auto scan: on",
    "auto_off": "Auto scan: off",
    "search": "Search by name",
    "browse": "Browse",
    "back": "Back",
    "scan_again": "Scan again",
    "searching": "Looking…",
    "starting": "Starting…",
    "preparing_demo": "Preparing the demo… {percent} %",
    "loading": "Loading the catalog…",
    "start_failed": "Sorry, product search is not available. Please ask a member of staff.",
    "panel_idle_title": "Hold a product inside the frame",
    "panel_idle_body": "Keep it still for a moment, or tap “Find this product”.",
    "found": "We found it",
    "not_sure": "Is it one of these?",
    "not_sure_hint": "Tap the right one, or try again a little closer.",
    "no_match": "No match — please ask a member of staff",
    "no_match_hint": "Or browse by category:",
    "closest": "The closest we have:",
    "browse_categories": "Browse by category",
    "also": "Also possible",
    "recent": "Recently scanned",
    "error": "Something went wrong. Please try again.",
    "hint_too_dark": "Too dark",
    "hint_too_bright": "Too bright",
    "hint_hold_still": "Hold still",
    "hint_move_closer": "Move closer",
    "hint_blurry": "Hold still — it is blurry",
    "camera_unavailable": "Camera unavailable",
    "camera_reconnecting": "Trying to reconnect…",
    "price_unknown": "Price at the shelf",
    "out_of_stock": "Out of stock",
    "in_stock": "In stock",
    "where": "Where: {aisle}",
    "similar": "Similar products",
    "goes_well": "Goes well with",
    "nothing_here": "Nothing to show",
    "search_title": "Search by name or category",
    "search_placeholder": "Type with the keyboard below",
    "search_none": "No products found for “{query}”",
    "search_hint": "Try a product name such as “milk” or a category such as “Snacks”",
    "browse_title": "Browse by category",
    "browse_pick": "Choose a category",
    "attract_title": "Can't find something?",
    "attract_body": "Show it to the camera and we'll tell you what it is, what it costs and where it is.",
    "attract_touch": "Touch the screen, or hold a product up",
    "key_space": "Space",
    "key_clear": "Clear",
    "pin_title": "Staff PIN",
    "pin_wrong": "Wrong PIN",
    "pin_wait": "Wrong PIN. Try again in {seconds} s",
    "cancel": "Cancel",
    "ok": "OK",
    "staff_title": "Staff",
    "staff_store": "This kiosk",
    "staff_diagnostics": "Diagnostics",
    "staff_back": "Back to shoppers",
    "staff_reset": "Reset session",
    "staff_exit": "Exit kiosk",
    "staff_warning": "Warning",
    "staff_default_pin": "The staff PIN is still the default one: set ui.staff_pin in the settings file",
    "staff_catalog": "Catalog",
    "staff_catalog_value": "{name}, updated {updated}",
    "staff_demo_catalog": "Demo shop (built in)",
    "staff_products": "Products",
    "staff_products_value": "{products} products, {photos} catalog photos, {shots} in-store shots",
    "staff_model": "Recognition model",
    "staff_scans": "Scans today",
    "staff_scans_value": "{total}: {found} found, {not_sure} not sure, {no_match} no match",
    "staff_loading": "loading…",
    "staff_catalog_version": "Catalog version",
    "staff_catalog_bundle": "Catalog made with",
    "staff_camera": "Camera",
    "staff_camera_fps": "Camera fps",
    "staff_display_fps": "Display fps",
    "staff_latency": "Scan latency",
    "staff_stall": "GUI stall (max)",
    "staff_cache": "Cache",
    "staff_startup": "Start-up",
    "staff_temperature": "Temperature",
    "staff_battery": "Battery",
    "staff_throttling": "Throttling",
    "staff_rates": "Rates now",
    "staff_power": "Power notes",
}

DE: dict[str, str] = {
    "app_title": "Produkt finden",
    "language_button": "English",
    "find": "Dieses Produkt finden",
    "auto_on": "Automatisch: an",
    "auto_off": "Automatisch: aus",
    "search": "Nach Namen suchen",
    "browse": "Stöbern",
    "back": "Zurück",
    "scan_again": "Noch einmal",
    "searching": "Suche…",
    "starting": "Startet…",
    "preparing_demo": "Demo wird vorbereitet… {percent} %",
    "loading": "Katalog wird geladen…",
    "start_failed": "Die Produktsuche ist leider nicht verfügbar. Bitte fragen Sie unser Personal.",
    "panel_idle_title": "Halten Sie ein Produkt in den Rahmen",
    "panel_idle_body": "Kurz ruhig halten oder „Dieses Produkt finden“ tippen.",
    "found": "Gefunden",
    "not_sure": "Ist es eines davon?",
    "not_sure_hint": "Tippen Sie auf das richtige oder versuchen Sie es etwas näher.",
    "no_match": "Kein Treffer — bitte fragen Sie unser Personal",
    "no_match_hint": "Oder stöbern Sie nach Kategorie:",
    "closest": "Das kommt am nächsten:",
    "browse_categories": "Nach Kategorie stöbern",
    "also": "Auch möglich",
    "recent": "Zuletzt gesucht",
    "error": "Etwas ist schiefgegangen. Bitte noch einmal versuchen.",
    "hint_too_dark": "Zu dunkel",
    "hint_too_bright": "Zu hell",
    "hint_hold_still": "Ruhig halten",
    "hint_move_closer": "Näher heran",
    "hint_blurry": "Ruhig halten — das Bild ist unscharf",
    "camera_unavailable": "Kamera nicht verfügbar",
    "camera_reconnecting": "Verbindung wird wiederhergestellt…",
    "price_unknown": "Preis am Regal",
    "out_of_stock": "Nicht vorrätig",
    "in_stock": "Vorrätig",
    "where": "Wo: {aisle}",
    "similar": "Ähnliche Produkte",
    "goes_well": "Passt gut zu",
    "nothing_here": "Nichts anzuzeigen",
    "search_title": "Nach Name oder Kategorie suchen",
    "search_placeholder": "Mit der Tastatur unten tippen",
    "search_none": "Keine Produkte für „{query}“ gefunden",
    "search_hint": "Versuchen Sie einen Namen wie „Milch“ oder eine Kategorie wie „Snacks“",
    "browse_title": "Nach Kategorie stöbern",
    "browse_pick": "Kategorie wählen",
    "attract_title": "Sie suchen etwas?",
    "attract_body": "Zeigen Sie es der Kamera – wir sagen Ihnen, was es ist, was es kostet und wo es steht.",
    "attract_touch": "Bildschirm berühren oder Produkt hochhalten",
    "key_space": "Leerzeichen",
    "key_clear": "Löschen",
    "pin_title": "Personal-PIN",
    "pin_wrong": "Falsche PIN",
    "pin_wait": "Falsche PIN. Neuer Versuch in {seconds} s",
    "cancel": "Abbrechen",
    "ok": "OK",
    "staff_title": "Personal",
    "staff_store": "Dieser Kiosk",
    "staff_diagnostics": "Diagnose",
    "staff_back": "Zurück zu den Kunden",
    "staff_reset": "Sitzung zurücksetzen",
    "staff_exit": "Kiosk beenden",
    "staff_warning": "Warnung",
    "staff_default_pin": "Die Personal-PIN ist noch die voreingestellte: ui.staff_pin in der Einstellungsdatei setzen",
    "staff_catalog": "Katalog",
    "staff_catalog_value": "{name}, aktualisiert {updated}",
    "staff_demo_catalog": "Demo-Laden (eingebaut)",
    "staff_products": "Produkte",
    "staff_products_value": "{products} Produkte, {photos} Katalogfotos, {shots} Fotos aus dem Markt",
    "staff_model": "Erkennungsmodell",
    "staff_scans": "Scans heute",
    "staff_scans_value": "{total}: {found} gefunden, {not_sure} unsicher, {no_match} kein Treffer",
    "staff_loading": "wird geladen…",
    "staff_catalog_version": "Katalogversion",
    "staff_catalog_bundle": "Katalog erstellt mit",
    "staff_camera": "Kamera",
    "staff_camera_fps": "Kamera-fps",
    "staff_display_fps": "Anzeige-fps",
    "staff_latency": "Scan-Dauer",
    "staff_stall": "GUI-Hänger (max.)",
    "staff_cache": "Cache",
    "staff_startup": "Start",
    "staff_temperature": "Temperatur",
    "staff_battery": "Akku",
    "staff_throttling": "Drosselung",
    "staff_rates": "Raten jetzt",
    "staff_power": "Stromversorgung",
}

TABLES: dict[str, dict[str, str]] = {"en": EN, "de": DE}
#: the language the shopper's language button switches to
LANGUAGES_CYCLE = {"en": "de", "de": "en"}


class Translator:
    """Looks shopper-facing strings up in one language's table."""

    def __init__(self, language: str = "en") -> None:
        if language not in TABLES:
            raise ValueError(f"unknown language {language!r}; known: {', '.join(TABLES)}")
        self.language = language
        self._table = TABLES[language]

    def __call__(self, key: str, **values: Any) -> str:
        text = self._table.get(key) or EN.get(key) or key
        return text.format(**values) if values else text

    def price(self, price: float | None, currency: str = "EUR") -> str:
        """A price as shoppers in this language write it: "€3.49" or "3,49 €"."""
        if price is None:
            return self("price_unknown")
        symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency, currency + " ")
        if self.language == "de":
            return f"{price:.2f}".replace(".", ",") + f" {symbol.strip()}"
        return f"{symbol}{price:.2f}"
